"""A request the server refuses says so where the user looks, on every kind of htmx form, in a
real browser.

Every htmx request of the product, by kind (``grep -rn "hx-get\\|hx-post" templates static``):

- the station page's actions: change or replace the state, force the automatic state, reset
  the part count (POST, the panel swapped);
- the station page's day, refreshed every 30 s (GET, a panel);
- the overview's search, sent as one types, and its rows, refreshed (GET);
- the shift review's form (GET, the review swapped);
- the screens page: a new screen, and each screen's Identify, Reload, New enrolment link,
  Revoke and Delete (POST, the page or the screen's rows swapped; two of them confirm first).

The wall has none: its fallback for a browser without WebSockets swaps nothing and is not a
form. For each kind, the user's session ends (its row deleted server-side, or for one form its
cookie dropped in the browser) or their role is lowered while the page is open; then they fill
the form and send it (or the panel refreshes). Before, htmx swapped nothing on the 403, or the
login page itself into the panel: the tap did nothing visible. Now the refusal shows in view
beside the form, what was typed stays, nothing was done, and the login link brings the user
back to the same page with the values put back. The overview has no role to lower: every
logged-in user may see it (a limit to some stations narrows its rows and refuses nothing).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import TABLET, Stack, Wall, logged_in_as

pytestmark = pytest.mark.slow

PASSWORD = secrets.token_urlsafe(16)

#: Run in ``manage.py shell``: the users and screens of every test (TEST_WORLD), in one go;
#: prints the first station and the screens' pks.
CREATE_WORLD = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from screens.services import create_screen, revoke
from stations.models import Station
world = json.loads(os.environ["TEST_WORLD"])
for user in world["users"]:
    created = get_user_model().objects.create_user(
        user["username"], password=os.environ["TEST_PASSWORD"], is_staff=user["staff"]
    )
    created.groups.add(Group.objects.get(name=user["group"]))
screens = {}
for screen in world["screens"]:
    made, _token = create_screen(screen["name"], {}, 20, None)
    if screen["revoked"]:
        revoke(made)
    screens[screen["name"]] = made.pk
station = Station.objects.order_by("pk").first()
print("WORLD=" + json.dumps({"station": station.pk, "name": station.name, "screens": screens}))
"""
#: Run in ``manage.py shell``: the session of TEST_USERNAME ends, as after its expiry.
END_SESSION = """
import os
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
user = get_user_model().objects.get(username=os.environ["TEST_USERNAME"])
mine = str(user.pk)
ended = [s.pk for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == mine]
assert ended, "the user had no session"
Session.objects.filter(pk__in=ended).delete()
"""
#: Run in ``manage.py shell``: TEST_USERNAME loses what TEST_LOWER says.
LOWER = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from accounts.models import Profile
from stations.models import Station
user = get_user_model().objects.get(username=os.environ["TEST_USERNAME"])
how = os.environ["TEST_LOWER"]
if how == "viewer":
    user.groups.set([Group.objects.get(name="Viewer")])
elif how == "not staff":
    user.is_staff = False
    user.save(update_fields=["is_staff"])
elif how == "other station":
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.stations.set([Station.objects.order_by("pk").last()])
else:
    raise SystemExit("unknown lowering: " + how)
"""
#: The panel's poll made due every second from now: the same element, URL and swap as its
#: own 10 or 30 s timer, without waiting that long.
POLL_NOW = """
(selector) => {
  const panel = document.querySelector(selector);
  panel.setAttribute("hx-trigger", "every 1s");
  htmx.process(panel);
}
"""


@dataclass(frozen=True)
class World:
    station: int
    station_name: str
    screens: dict[str, int]


@dataclass(frozen=True)
class Case:
    """One test's page and form: ``screen`` names the screen it acts on, if any."""

    kind: Kind
    username: str
    screen: str
    world: World

    @property
    def screen_pk(self) -> int:
        return self.world.screens[self.screen]

    @property
    def path(self) -> str:
        return self.kind.path(self)


@dataclass(frozen=True)
class Kind:
    """One kind of htmx form: who uses it, where, what they type and what sends it."""

    id: str
    role: str
    path: Callable[[Case], str]
    #: Types into the form (may send it, as the search does).
    fill: Callable[[Any, Case], None]
    #: What the user typed or chose, as the form shows it now.
    read: Callable[[Any, Case], dict[str, str]]
    send: Callable[[Any, Case], None]
    #: Where the refusal must be: beside the form or panel that sent the request.
    refusal: Callable[[Case], str]
    #: What would show had the request been done (must not); "" for a panel.
    done: Callable[[Case], str] = lambda case: ""
    #: How the role is lowered (``LOWER``); "" when no role applies.
    lower: str = "viewer"
    staff: bool = False
    #: A screen this form acts on (created for the test), and whether it is revoked.
    screen: str = ""
    #: After the values are put back on the same page, what shows.
    then: Callable[[Any, Case], None] | None = None


def nothing(page: Any, case: Case) -> None:
    pass


def no_values(page: Any, case: Case) -> dict[str, str]:
    return {}


def values(page: Any, selectors: list[str]) -> dict[str, str]:
    return {selector: page.locator(selector).input_value() for selector in selectors}


def poll_now(selector: str) -> Callable[[Any, Case], None]:
    def send(page: Any, case: Case) -> None:
        page.evaluate(POLL_NOW, selector)

    return send


# The station page's actions.


def action_form(kind: str) -> str:
    return f"#station-actions form[action$='/actions/{kind}/']"


def open_action(page: Any, kind: str) -> None:
    details = f"#station-actions details:has(form[action$='/actions/{kind}/'])"
    page.locator(f"{details} > summary").click()


def fill_state(kind: str) -> Callable[[Any, Case], None]:
    def fill(page: Any, case: Case) -> None:
        open_action(page, kind)
        page.locator(f"{action_form(kind)} input[name=state]").last.check()
        page.fill(f"#{kind}-comment", "Jammed at the feeder")

    return fill


def read_state(kind: str) -> Callable[[Any, Case], dict[str, str]]:
    def read(page: Any, case: Case) -> dict[str, str]:
        checked = page.locator(f"{action_form(kind)} input[name=state]:checked")
        return {
            "state": checked.first.get_attribute("value") if checked.count() else "",
            **values(page, [f"#{kind}-comment"]),
        }

    return read


def submit(kind: str) -> Callable[[Any, Case], None]:
    def send(page: Any, case: Case) -> None:
        page.locator(f"{action_form(kind)} button[type=submit]").click()

    return send


def fill_reset(page: Any, case: Case) -> None:
    open_action(page, "reset_parts")
    page.fill("#reset-parts-value", "7")


def station_path(case: Case) -> str:
    return f"/stations/{case.world.station}/"


def in_actions(case: Case) -> str:
    return "#station-actions .htmx-refusal"


def an_action_result(case: Case) -> str:
    return "#station-actions .result"


STATION_ACTIONS = [
    Kind(
        id=kind,
        role="Supervisor",
        path=station_path,
        fill=fill_state(kind),
        read=read_state(kind),
        send=submit(kind),
        refusal=in_actions,
        done=an_action_result,
    )
    for kind in ("change_state", "replace_state")
] + [
    Kind(
        id="force_auto",
        role="Supervisor",
        path=station_path,
        fill=lambda page, case: open_action(page, "force_auto"),
        read=no_values,
        send=submit("force_auto"),
        refusal=in_actions,
        done=an_action_result,
    ),
    Kind(
        id="reset_parts",
        role="Supervisor",
        path=station_path,
        fill=fill_reset,
        read=lambda page, case: values(page, ["#reset-parts-value"]),
        send=submit("reset_parts"),
        refusal=in_actions,
        done=an_action_result,
    ),
]
STATION_DAY = Kind(
    id="station_day",
    role="Supervisor",
    path=station_path,
    fill=nothing,
    read=no_values,
    send=poll_now("#station-day"),
    refusal=lambda case: ".station-page > .htmx-refusal:has(+ #station-day)",
    lower="other station",
)


# The overview.


def search_for(page: Any, case: Case) -> None:
    page.fill("#station-search", case.world.station_name)  # sent as it is typed


def searched(page: Any, case: Case) -> None:
    """The search put back is sent again: the rows are those it finds."""
    page.wait_for_url(
        lambda url: parse_qs(urlsplit(url).query).get("q") == [case.world.station_name]
    )
    page.locator("#station-rows").get_by_text(case.world.station_name).first.wait_for()


OVERVIEW = [
    Kind(
        id="overview_search",
        role="Viewer",
        path=lambda case: "/stations/",
        fill=search_for,
        read=lambda page, case: values(page, ["#station-search"]),
        send=nothing,
        refusal=lambda case: ".overview-head > .htmx-refusal:has(+ form.search)",
        lower="",
        then=searched,
    ),
    Kind(
        id="overview_rows",
        role="Viewer",
        path=lambda case: "/stations/",
        fill=nothing,
        read=no_values,
        send=poll_now("#station-rows"),
        refusal=lambda case: ".stations-page > .htmx-refusal:has(+ #station-rows)",
        lower="",
    ),
]


# The shift review.


def fill_review(page: Any, case: Case) -> None:
    page.select_option("#id_period", "day")
    page.fill("#id_date", (datetime.now(UTC) - timedelta(days=2)).date().isoformat())


REVIEW = Kind(
    id="review",
    role="Manager",
    path=lambda case: "/kpis/review/",
    fill=fill_review,
    read=lambda page, case: values(page, ["#id_period", "#id_date"]),
    send=lambda page, case: page.locator("#review .review-form button[type=submit]").click(),
    refusal=lambda case: "#review .htmx-refusal:has(+ form.review-form)",
)


# The screens page.


def fill_new_screen(page: Any, case: Case) -> None:
    page.fill("#id_name", f"Press shop {case.username}")
    page.fill("#id_rotation_seconds", "45")


def screen_button(name: str) -> Callable[[Any, Case], None]:
    def send(page: Any, case: Case) -> None:
        page.once("dialog", lambda dialog: dialog.accept())  # Revoke and Delete confirm first
        row = page.locator(f"#screen-{case.screen_pk}")
        row.get_by_role("button", name=name, exact=True).click()

    return send


def screen_row(case: Case) -> str:
    return f"#screen-{case.screen_pk} .htmx-refusal"


#: What shows once each screen button has done its work.
SCREEN_DONE = {
    "Identify": lambda case: f"#screen-{case.screen_pk} tr.note",
    "Reload": lambda case: f"#screen-{case.screen_pk} tr.note",
    "New enrolment link": lambda case: "#screens-page .enrolment",
    "Revoke": lambda case: f"#screen-{case.screen_pk}.revoked",
    "Delete": lambda case: f"#screens-page:not(:has(#screen-{case.screen_pk}))",
}

SCREENS = [
    Kind(
        id="screen_create",
        role="Viewer",
        staff=True,
        path=lambda case: "/screens/",
        fill=fill_new_screen,
        read=lambda page, case: values(page, ["#id_name", "#id_rotation_seconds"]),
        send=lambda page, case: page.get_by_role(
            "button", name="Create and get its enrolment link"
        ).click(),
        refusal=lambda case: "#screens-page .create .htmx-refusal:has(+ form)",
        done=lambda case: "#screens-page .enrolment",
        lower="not staff",
    )
] + [
    Kind(
        id=f"screen_{button.lower().replace(' ', '_')}",
        role="Viewer",
        staff=True,
        path=lambda case: "/screens/",
        fill=nothing,
        read=no_values,
        send=screen_button(button),
        refusal=screen_row,
        done=done,
        lower="not staff",
        screen="revoked" if button == "Delete" else "live",
    )
    for button, done in SCREEN_DONE.items()
]

KINDS = [*STATION_ACTIONS, STATION_DAY, *OVERVIEW, REVIEW, *SCREENS]
LOWERED = [kind for kind in KINDS if kind.lower]
#: How a session ends: its row deleted on the server (as an expiry does), or the browser's
#: cookie dropped (for one form: the server sees no session at all).
ENDINGS = [(kind, "server") for kind in KINDS] + [(STATION_ACTIONS[-1], "cookie")]


def username(scenario: str, kind: Kind) -> str:
    return f"{scenario}-{kind.id}"


def screen_name(scenario: str, kind: Kind) -> str:
    return f"{kind.screen} {scenario} {kind.id}"


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    """Every test's user (one each: tests lower them) and screen, made in one go."""
    scenarios = [(kind, f"login-{ending}") for kind, ending in ENDINGS]
    scenarios += [(kind, "forbidden") for kind in LOWERED]
    spec = {
        "users": [
            {"username": username(s, kind), "group": kind.role, "staff": kind.staff}
            for kind, s in scenarios
        ],
        "screens": [
            {"name": screen_name(s, kind), "revoked": kind.screen == "revoked"}
            for kind, s in scenarios
            if kind.screen
        ],
    }
    env = {"TEST_WORLD": json.dumps(spec), "TEST_PASSWORD": PASSWORD}
    out = stack.manage("shell", "-c", CREATE_WORLD, env=env).stdout
    made = json.loads(out.split("WORLD=", 1)[1].splitlines()[0])
    return World(made["station"], made["name"], made["screens"])


@pytest.fixture
def signed_in(browser: Any, stack: Stack, world: World) -> Iterator[Callable[[Kind, str], Any]]:
    """A tablet logged in as the test's own user, on the form's page."""
    with contextlib.ExitStack() as contexts:

        def open_as(kind: Kind, scenario: str) -> tuple[Wall, Case]:
            name = screen_name(scenario, kind) if kind.screen else ""
            case = Case(kind, username(scenario, kind), name, world)
            tablet = contexts.enter_context(
                logged_in_as(browser, stack, case.username, PASSWORD, TABLET)
            )
            tablet.page.goto(case.path)
            return tablet, case

        yield open_as


def fill_and_send(page: Any, case: Case) -> dict[str, str]:
    """The user types and sends; returns what they typed (checked to differ from before)."""
    before = case.kind.read(page, case)
    case.kind.fill(page, case)
    typed = case.kind.read(page, case)
    assert not typed or typed != before, "the test typed nothing new"
    case.kind.send(page, case)
    return typed


def seen_refusal(page: Any, case: Case, kind: str, words: str) -> Any:
    refusal = page.locator(f"{case.kind.refusal(case)}[data-refusal={kind}]")
    refusal.wait_for(state="visible")
    assert words in refusal.inner_text()
    from playwright.sync_api import expect

    expect(refusal).to_be_in_viewport()  # where the user looks, not below the fold
    if case.kind.done(case):
        assert not page.locator(case.kind.done(case)).count(), "it was done"
    return refusal


@pytest.mark.parametrize(
    ("kind", "ending"), ENDINGS, ids=[f"{kind.id}-{ending}" for kind, ending in ENDINGS]
)
def test_an_ended_session_says_so_keeps_the_input_and_logs_back_in_to_the_same_page(
    stack: Stack, signed_in: Callable[[Kind, str], Any], kind: Kind, ending: str
):
    tablet, case = signed_in(kind, f"login-{ending}")
    page = tablet.page
    if ending == "cookie":
        page.context.clear_cookies(name="sessionid")
    else:
        stack.manage("shell", "-c", END_SESSION, env={"TEST_USERNAME": case.username})
    typed = fill_and_send(page, case)

    refusal = seen_refusal(page, case, "login", "session has ended")
    assert kind.read(page, case) == typed, "what was typed was lost"
    link = refusal.get_by_role("link", name="Log in")
    assert parse_qs(urlsplit(link.get_attribute("href")).query)["next"] == [case.path]

    link.click()
    page.wait_for_url("**/login/**")
    page.fill("#id_username", case.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{case.path}")
    page.wait_for_load_state()
    assert kind.read(page, case) == typed, "what was typed was not put back"
    if kind.done(case):
        assert not page.locator(kind.done(case)).count(), "it was done"
    if kind.then:
        kind.then(page, case)


@pytest.mark.parametrize("kind", LOWERED, ids=[kind.id for kind in LOWERED])
def test_a_lowered_role_is_refused_in_plain_words(
    stack: Stack, signed_in: Callable[[Kind, str], Any], kind: Kind
):
    tablet, case = signed_in(kind, "forbidden")
    page = tablet.page
    env = {"TEST_USERNAME": case.username, "TEST_LOWER": kind.lower}
    stack.manage("shell", "-c", LOWER, env=env)
    typed = fill_and_send(page, case)

    seen_refusal(page, case, "forbidden", "no longer allowed")
    assert kind.read(page, case) == typed, "what was typed was lost"
    page.screenshot(path=str(stack.workdir / f"refused-{kind.id}-tablet.png"))
