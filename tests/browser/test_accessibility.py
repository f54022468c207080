"""Accessibility in a real browser: axe-core on every page a user of the floor opens, the
keyboard alone through the station and review pages, and finger-sized targets on a tablet.

axe-core comes bundled in the ``axe-playwright-python`` package (nothing loads from a CDN) and
runs the WCAG 2.0/2.1 A and AA rules; a violation of impact "serious" or "critical" fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import TABLET, TV, Stack, Wall, open_wall
from tests.browser.test_actions import result_of, writable_station

pytestmark = pytest.mark.slow

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING = ("serious", "critical")

#: Nodes whose fix is pending in files another change owns: (axe rule, the node or one of its
#: ancestors matches this selector, what is pending). Only these nodes are left out, only
#: for this rule; the rule still runs on everything else.
PENDING: list[tuple[str, str, str]] = []

#: Targets under 44 px whose fix is pending in files another change owns: (selector, what is
#: pending). They are measured with the rest and only left out of the assertion.
PENDING_TARGETS: list[tuple[str, str]] = []

#: Run in ``manage.py shell``: one of each thing the action pages list, so that their
#: tables and buttons are there to check, and a supervisor who is not a superuser.
CREATE_FIXTURES = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from alerts.models import AlertRule, ReportSubscription, Webhook
from screens.models import Screen
from stations.models import Station
users = get_user_model()
demo = users.objects.get(username="demo")
AlertRule.objects.create(name="Long breakdown", condition="state", minutes=15, created_by=demo)
Webhook.objects.create(name="Maintenance", url="https://example.invalid/hook", format="json")
Screen.objects.create(name="Hall A", created_by=demo)
workshop = Station.objects.exclude(workshop="").values_list("workshop", flat=True).first()
ReportSubscription.objects.create(user=demo, workshop=workshop or "Workshop")
user = users.objects.create_user(os.environ["TEST_USERNAME"], password=os.environ["TEST_PASSWORD"])
user.groups.add(Group.objects.get(name="Supervisor"))
print("created")
"""

#: Every rendered control a finger has to hit. Links count when they stand alone as a control
#: (in a navigation bar or a header, or styled as a button); a link inside running text is
#: exempt, as WCAG 2.5.5 allows for inline targets. A radio button or a check box is hit
#: through its label, so the label's box is its target.
SMALL_TARGETS = """
([min, pending]) => {
  const CONTROLS = "button, input:not([type=hidden]), select, textarea, summary, [role=button], " +
    "nav a[href], header a[href], a[href].nav-link, a[href][class*=button], .skip-link, " +
    "a[href].tile-name";
  const rendered = (el) => {
    const box = el.getBoundingClientRect();
    return (box.width > 0 || box.height > 0) && getComputedStyle(el).visibility !== "hidden"
      && !el.closest("details:not([open]) > :not(summary)");
  };
  const small = [];
  for (const el of document.querySelectorAll(CONTROLS)) {
    if (!rendered(el) || pending.some((selector) => el.matches(selector))) continue;
    let box = el.getBoundingClientRect();
    // A link stretched over its positioned container by ::after (a wall tile) is that big.
    if (getComputedStyle(el, "::after").position === "absolute" && el.offsetParent) {
      box = el.offsetParent.getBoundingClientRect();
    }
    if (el.matches("input[type=radio], input[type=checkbox]")) {
      const label = el.closest("label")
        || (el.id && document.querySelector(`label[for="${el.id}"]`));
      if (label) box = label.getBoundingClientRect();
    }
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      const size = `${Math.round(box.width)}×${Math.round(box.height)}`;
      small.push(`${size} ${el.outerHTML.slice(0, 160)}`);
    }
  }
  return small;
}
"""

#: What the Tab key has to reach: every rendered, enabled, focusable element, each radio
#: group once (the arrow keys move inside a group), keyed so that a live swap keeps the key.
FOCUSABLE = """
() => {
  const SELECTOR = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), " +
    "select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";
  const rendered = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden"
      && !el.closest("details:not([open]) > :not(summary), [hidden], [inert]");
  };
  return [...document.querySelectorAll(SELECTOR)].filter(rendered).map(window.__a11yKey);
}
"""

#: A key for an element that survives an htmx swap of the same content.
KEY_SCRIPT = """
window.__a11yKey = (el) => {
  if (el.matches("input[type=radio]")) {
    return `radio group ${el.form ? el.form.getAttribute("action") : ""} ${el.name}`;
  }
  const text = (el.getAttribute("aria-label") || el.textContent || "").trim().replace(/\\s+/g, " ");
  return [el.tagName.toLowerCase(), el.id, el.getAttribute("name"), el.getAttribute("href"),
          el.form ? el.form.getAttribute("action") : "", text.slice(0, 60)].join("|");
};
"""

#: The focused element's key and whether its focus can be seen (an outline or a box shadow).
FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== "none";
  return {key: window.__a11yKey(el), visible: outline || !!shadow,
          html: el.outerHTML.slice(0, 160)};
}
"""


def axe_violations(page: Any) -> list[str]:
    """The page's serious and critical axe violations, one readable line per node, without
    the nodes of ``PENDING``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS).response
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        pending = [selector for rule, selector, _ in PENDING if rule == violation["id"]]
        for node in violation["nodes"]:
            target = node["target"][0] if node["target"] else ""
            if pending and page.evaluate(
                "([target, selectors]) => { const el = document.querySelector(target);"
                " return !!el && selectors.some(s => el.closest(s)); }",
                [target, pending],
            ):
                continue
            summary = " ".join((node.get("failureSummary") or "").split())
            found.append(
                f"{violation['id']} ({violation['impact']}): {target}\n"
                f"    {node['html'][:200]}\n    {summary[:300]}\n    {violation['helpUrl']}"
            )
    return found


def assert_accessible(page: Any, what: str) -> None:
    found = axe_violations(page)
    assert not found, f"{what} ({page.url}): {len(found)} serious or critical:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def fixtures(stack: Stack) -> dict[str, str]:
    """A rule, a webhook, a screen, a report subscription and a supervisor's login."""
    password = secrets.token_urlsafe(16)
    env = {"TEST_USERNAME": "a11ysupervisor", "TEST_PASSWORD": password}
    stack.manage("shell", "-c", CREATE_FIXTURES, env=env)
    return env


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A fresh tab of the logged-in demo user (a superuser), at a tablet's size."""
    opened = context.new_page()
    opened.set_viewport_size(TABLET)
    opened.add_init_script(KEY_SCRIPT)
    try:
        yield opened
    finally:
        opened.close()


def station_pk(stack: Stack, wall: Wall) -> int:
    """A station the demo user may act on (enabled, in MDC mode)."""
    return writable_station(stack, wall)[1]


def open_actions(page: Any) -> None:
    """Every action of the station's panel unfolded, as a supervisor taps them open."""
    page.locator("#station-actions").wait_for(state="visible")
    open_all(page, "#station-actions")


def open_all(page: Any, within: str) -> None:
    """Every closed ``<details>`` in ``within`` opened by a tap on its summary."""
    closed = page.locator(f"{within} details:not([open]) > summary")
    for _ in range(closed.count()):
        closed.first.click()


@pytest.mark.parametrize("viewport", [TV, TABLET], ids=["tv", "tablet"])
def test_the_wall_has_no_serious_accessibility_violation(context: Any, viewport: dict[str, int]):
    """Live, as a TV and a supervisor's tablet show it (the banner hidden: data flowing)."""
    wall = open_wall(context, viewport)
    try:
        wall.page.wait_for_function("() => document.getElementById('wall-banner').hidden")
        assert_accessible(wall.page, f"the wall at {viewport['width']}×{viewport['height']}")
    finally:
        wall.page.close()


def test_the_login_page_has_no_serious_accessibility_violation(browser: Any, stack: Stack):
    """Before and after a wrong password: the error is said, not only coloured."""
    ctx = browser.new_context(viewport=TABLET, base_url=stack.web_url)
    try:
        page = ctx.new_page()
        page.goto("/login/")
        assert_accessible(page, "the login page")
        page.fill("#id_username", "nobody")
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
        page.wait_for_selector(".error[role=alert]")
        assert_accessible(page, "the login page with its error")
    finally:
        ctx.close()


def test_the_station_pages_have_no_serious_accessibility_violation(
    page: Any, stack: Stack, wall: Wall
):
    """The overview, then a station with every action form open, then with a form's error."""
    page.goto("/stations/")
    page.wait_for_selector("h1")
    assert_accessible(page, "the stations overview")
    page.goto(f"/stations/{station_pk(stack, wall)}/")
    open_actions(page)
    assert_accessible(page, "a station with its action forms open")
    # A refusal or a bad value shows in the panel: still labelled and readable.
    page.fill("#reset-parts-value", "-1")
    page.locator("#reset-parts-value").evaluate("el => el.removeAttribute('min')")
    page.locator("form[action$='/reset_parts/'] button[type=submit]").click()
    page.wait_for_selector("#station-actions .error, #station-actions .result")
    open_actions(page)
    assert_accessible(page, "a station with an action's error")


def test_the_shift_review_has_no_serious_accessibility_violation(page: Any):
    """The day's review with its table, comparison, timeline, Paretos and sources."""
    page.goto("/kpis/review/?scope=all&period=day")
    page.wait_for_selector("table.kpi-table tr.total-row")
    page.wait_for_selector(".review-timeline .tl-bars rect[data-state]")
    page.locator(".review-sources summary").click()
    assert_accessible(page, "the shift review with its timeline and table")


@pytest.mark.parametrize(
    "path",
    [
        "/alerts/",
        "/alerts/new/",
        "/alerts/webhooks/",
        "/alerts/webhooks/new/",
        "/alerts/reports/",
        "/screens/",
    ],
)
def test_the_action_pages_have_no_serious_accessibility_violation(
    page: Any, fixtures: dict[str, str], path: str
):
    """Each list with a row in it (rule, webhook, subscription, screen) and each form."""
    page.goto(path)
    page.wait_for_selector("main h1")
    open_all(page, "main")
    assert_accessible(page, path)


def test_controls_are_at_least_44_px_on_a_tablet(
    page: Any, stack: Stack, wall: Wall, fixtures: dict[str, str]
):
    """WCAG 2.5.5 (44×44 CSS px) for every control; links inside running text are exempt."""
    pk = station_pk(stack, wall)
    pending = [selector for selector, _ in PENDING_TARGETS]
    small: dict[str, list[str]] = {}
    paths = [
        "/stations/",
        f"/stations/{pk}/",
        "/kpis/review/?scope=all&period=day",
        "/alerts/",
        "/alerts/new/",
        "/alerts/webhooks/",
        "/alerts/webhooks/new/",
        "/alerts/reports/",
        "/screens/",
    ]
    for path in paths:
        page.goto(path)
        page.wait_for_selector("main h1")
        open_all(page, "main")
        found = page.evaluate(SMALL_TARGETS, [44, pending])
        if found:
            small[path] = found
    wall_page = open_wall(page.context, TABLET)
    try:
        wall_page.page.locator(".wall-filters summary").click()
        found = wall_page.page.evaluate(SMALL_TARGETS, [44, pending])
        if found:
            small["/wall/"] = found
    finally:
        wall_page.page.close()
    assert not small, "targets under 44×44 px on a tablet:\n" + "\n".join(
        f"{path}:\n  " + "\n  ".join(items) for path, items in small.items()
    )


def tab_through(page: Any, limit: int = 600) -> tuple[list[str], list[str]]:
    """Tab from the top of the page until focus comes back round; the keys reached and the
    elements whose focus could not be seen."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.locator("body").focus()
    reached: list[str] = []
    unseen: list[str] = []
    first = None
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        if focused["key"] == first:
            break
        first = first or focused["key"]
        reached.append(focused["key"])
        if not focused["visible"]:
            unseen.append(focused["html"])
    return reached, unseen


def assert_keyboard_reaches_everything(page: Any, what: str) -> None:
    expected = page.evaluate(FOCUSABLE)
    reached, unseen = tab_through(page)
    missing = sorted(set(expected) - set(reached))
    assert not missing, f"{what}: the Tab key never reaches:\n" + "\n".join(missing)
    assert not unseen, f"{what}: focus cannot be seen on:\n" + "\n".join(unseen)
    assert "#content" in reached[0], (
        f"{what}: the first Tab stop is not the skip link: {reached[0]!r}"
    )


def test_the_keyboard_reaches_every_control_of_the_station_and_review_pages(
    page: Any, stack: Stack, wall: Wall
):
    """Tab alone reaches every control, each with a visible focus, the skip link first."""
    page.set_viewport_size(TV)
    page.goto(f"/stations/{station_pk(stack, wall)}/")
    page.locator("#station-actions").wait_for(state="visible")
    unfold(page)
    assert_keyboard_reaches_everything(page, "the station page")
    page.goto("/kpis/review/?scope=all&period=day")
    page.wait_for_selector("table.kpi-table tr.total-row")
    unfold(page)
    assert_keyboard_reaches_everything(page, "the shift review")
    # Another period, by keyboard: the figures are swapped in and the focus stays on the form.
    tab_to(page, "el.id === 'id_period'", "the period")
    page.keyboard.press("ArrowDown")  # a closed select changes its value with the arrow keys
    tab_to(page, "el.matches('.review-form button[type=submit]')", "the form's button")
    with page.expect_response(lambda response: "/kpis/review/" in response.url):
        page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.activeElement.matches('#review .review-form button[type=submit]')",
        timeout=5_000,
    )


def unfold(page: Any) -> None:
    """Every ``<details>`` opened without a click: Tab then starts from the top of the page."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")


def tab_to(page: Any, script: str, what: str, limit: int = 400) -> None:
    """Press Tab until the focused element satisfies ``script`` (a predicate on it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            f"() => {{ const el = document.activeElement; return !!el && ({script}); }}"
        ):
            return
    pytest.fail(f"Tab never reached {what}", pytrace=False)


def test_a_supervisor_opens_and_submits_the_actions_with_the_keyboard_only(
    browser: Any, stack: Stack, wall: Wall, fixtures: dict[str, str]
):
    """Log in, change the state with a reason and a comment, reset the count: keys only."""
    station, pk, states = writable_station(stack, wall)
    ctx = browser.new_context(viewport=TABLET, base_url=stack.web_url)
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        page.goto("/login/?next=/stations/")
        # The login form too: the user name field has the focus, Tab and Enter do the rest.
        page.keyboard.type(fixtures["TEST_USERNAME"])
        page.keyboard.press("Tab")
        page.keyboard.type(fixtures["TEST_PASSWORD"])
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: urlsplit(url).path == "/stations/")
        page.goto(f"/stations/{pk}/")
        page.locator("#station-actions").wait_for(state="visible")

        # Change the state: open the form, choose a reason with the arrow keys, comment, send.
        tab_to(
            page,
            "el.matches('details:has(form[action$=\"/change_state/\"]) > summary')",
            "the change-state summary",
        )
        page.keyboard.press("Enter")
        change = page.locator("details:has(form[action$='/change_state/'])")
        assert change.get_attribute("open") is not None, "Enter did not open the form"
        offered = {str(s.handle) for s in states}
        tab_to(
            page,
            "el.matches('form[action$=\"/change_state/\"] input[name=state]')",
            "a reason of the change-state form",
        )
        for _ in range(60):  # the arrow keys move through the group to a state it is not in
            value = page.evaluate("() => document.activeElement.value")
            if value in offered:
                break
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Space")
        assert page.evaluate("() => document.activeElement.checked"), "Space did not choose it"
        tab_to(page, "el.matches('form[action$=\"/change_state/\"] textarea')", "the comment")
        page.keyboard.type("keyboard only")
        tab_to(
            page,
            "el.matches('form[action$=\"/change_state/\"] button[type=submit]')",
            "the change-state button",
        )
        page.keyboard.press("Enter")
        outcome, message = result_of(page, "change_state")
        assert outcome == "ok", f"{station.name}: {outcome} {message!r}"
        try:  # the focus lands on the answer, which a screen reader then reads
            page.wait_for_function(
                "() => document.activeElement.matches('#station-actions .result')", timeout=5_000
            )
        except Exception:
            focused = page.evaluate("() => document.activeElement.outerHTML.slice(0, 160)")
            pytest.fail(f"after the change, the focus is on {focused}, not on the answer")

        # Reset the part count: from the answer, Tab goes on to the next actions.
        tab_to(
            page,
            "el.matches('details:has(form[action$=\"/reset_parts/\"]) > summary')",
            "the reset summary",
        )
        page.keyboard.press("Enter")
        tab_to(page, "el.id === 'reset-parts-value'", "the new count")
        page.keyboard.press("Control+A")
        page.keyboard.type("0")
        page.keyboard.press("Enter")  # Enter in the field submits its form
        outcome, message = result_of(page, "reset_parts")
        assert outcome == "ok", f"{station.name}: {outcome} {message!r}"
    finally:
        ctx.close()
