"""A supervisor's station page: the actions in view without scrolling past the day's history
on a tablet (1024×768), a layout that stays good on a TV (1920×1080), and a part count above
the station's target that asks for confirmation in place before anything is sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cwork.client import CWorkClient
from tests.browser.conftest import API_KEY, TABLET, TV, Stack, logged_in_as
from tests.browser.test_actions import CREATE_SUPERVISOR

pytestmark = pytest.mark.slow

SUPERVISOR = "supervisor2"
#: Run in ``manage.py shell``: the dashboard's pk of the station with ``TEST_HANDLE``.
STATION_PK = """
import os
from stations.models import Station
print(Station.objects.get(cwork_id=int(os.environ["TEST_HANDLE"])).pk)
"""
#: Every action's opener (its <summary>), where the page shows it, and what the page scrolls.
ACTIONS_IN_VIEW = """
() => {
  const panel = document.getElementById("station-actions");
  const openers = Array.from(panel.querySelectorAll("details.action > summary"));
  return {
    scrollY: window.scrollY,
    viewport: [innerWidth, innerHeight],
    pageWidth: document.documentElement.scrollWidth,
    openers: openers.map(s => {
      const r = s.getBoundingClientRect();
      return {text: s.textContent.trim(), top: r.top, bottom: r.bottom, left: r.left,
              right: r.right, height: r.height};
    }),
  };
}
"""
#: Where a part of the page is, in the first viewport's coordinates.
BOX = """
(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
}
"""


#: The visible submit buttons of a form, by their text.
SUBMITS = """
(form) => Array.from(form.querySelectorAll("button[type=submit], button:not([type])"))
  .filter(b => b.getBoundingClientRect().height > 0).map(b => b.textContent.trim())
"""


def submits(action: Any) -> list[str]:
    """What the part count's form (in ``action``, its <details>) offers to press."""
    return action.locator("form").evaluate(SUBMITS)


@pytest.fixture(scope="module")
def password(stack: Stack) -> str:
    """A new supervisor (a user of the "Supervisor" group, not a superuser)."""
    password = secrets.token_urlsafe(16)
    env = {"TEST_USERNAME": SUPERVISOR, "TEST_PASSWORD": password}
    stack.manage("shell", "-c", CREATE_SUPERVISOR, env=env)
    return password


@pytest.fixture(scope="module")
def station_pk(stack: Stack) -> int:
    """An enabled station in MDC mode with a part target, as CWork says."""
    with CWorkClient(stack.sim_url, API_KEY) as client:
        for station in client.stations():
            if station.disabled or not station.mdc_mode:
                continue
            if client.station_status(station.handle).part_target:
                break
        else:
            raise AssertionError("the simulated factory has no writable station with a target")
    found = stack.manage("shell", "-c", STATION_PK, env={"TEST_HANDLE": str(station.handle)})
    return int(found.stdout.strip().splitlines()[-1])


def open_station_page(page: Any, pk: int) -> None:
    """The station page with its day's history in (the part the actions were below)."""
    page.goto(f"/stations/{pk}/")
    page.locator("#station-actions").wait_for(state="visible")
    page.locator("#station-day .day-panel").wait_for(state="visible")
    page.evaluate("document.fonts.ready")


@pytest.fixture
def supervisor(browser: Any, stack: Stack, password: str) -> Iterator[Any]:
    with logged_in_as(browser, stack, SUPERVISOR, password, TABLET) as tablet:
        yield tablet


@pytest.mark.parametrize("viewport", [TABLET, TV], ids=["tablet", "tv"])
def test_the_actions_are_in_view_without_scrolling(
    browser: Any, stack: Stack, password: str, station_pk: int, viewport: dict[str, int]
):
    with logged_in_as(browser, stack, SUPERVISOR, password, viewport) as view:
        page = view.page
        open_station_page(page, station_pk)
        where = f"{viewport['width']}×{viewport['height']}"
        shot = Path(stack.workdir) / f"station-actions-{viewport['width']}.png"
        page.screenshot(path=str(shot))
        page.screenshot(path=str(shot.with_suffix(".full.png")), full_page=True)
        seen = page.evaluate(ACTIONS_IN_VIEW)
        assert seen["scrollY"] == 0, seen
        assert seen["pageWidth"] <= viewport["width"], f"{where}: the page scrolls sideways"
        texts = [o["text"] for o in seen["openers"]]
        assert texts == [
            "Change state",
            "Replace current state",
            "Force automatic state",
            "Reset part count",
        ], texts
        for opener in seen["openers"]:
            assert opener["top"] >= 0, f"{where}: {opener}"
            assert opener["bottom"] <= viewport["height"], f"{where}: {opener} is below the fold"
            assert opener["right"] <= viewport["width"], f"{where}: {opener}"
            assert opener["height"] >= 44, f"{where}: {opener} is no finger's size"
        live = page.evaluate(BOX, "#station-live")
        actions = page.evaluate(BOX, "#station-actions")
        assert live["top"] < viewport["height"] / 3, f"{where}: {live}"
        assert actions["left"] >= live["right"], f"{where}: the actions are not beside {live}"
        assert actions["top"] < live["bottom"], f"{where}: {actions} {live}"
        # The day's timeline follows, in the first screen too.
        day = page.evaluate(BOX, "#station-day .timeline-bar")
        assert day is not None
        assert day["top"] < viewport["height"], f"{where}: {day}"
        if viewport is TV:
            assert day["bottom"] <= viewport["height"], f"{where}: {day}"

        # The change-state form opens where it is, its button in reach: the reasons scroll in
        # the panel, the page does not jump.
        change = page.locator("#station-actions details:has(form[action$='/change_state/'])")
        change.locator("summary").click()
        button = change.locator("button[type=submit]")
        button.scroll_into_view_if_needed()
        assert button.is_visible()
        box = button.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= viewport["height"], f"{where}: {box}"
        page.screenshot(path=str(Path(stack.workdir) / f"station-change-{viewport['width']}.png"))


def test_a_count_above_the_target_asks_in_place_before_sending(
    stack: Stack, supervisor: Any, station_pk: int
):
    page = supervisor.page
    open_station_page(page, station_pk)
    page.evaluate("window.__marker = 1")
    reset = page.locator("#station-actions details:has(form[action$='/reset_parts/'])")
    reset.locator("summary").click()
    reset.locator("#reset-parts-value").fill("1000000")
    reset.get_by_role("button", name="Confirm: reset the count").click()
    result = page.locator("#station-actions details:has(form[action$='/reset_parts/']) .result")
    result.wait_for(state="visible")
    assert result.get_attribute("data-outcome") == "invalid"
    assert result.inner_text().strip() == "Nothing was sent yet: confirm the count below."
    reset = page.locator("#station-actions details:has(form[action$='/reset_parts/'])")
    assert "above this station's target" in reset.locator(".confirm-above").inner_text()
    assert reset.locator("#reset-parts-value").input_value() == "1000000"
    # The question's answer is the form's only submit, beside a way back to the number.
    assert submits(reset) == ["Yes, set the count to 1000000", "Change the number"]
    assert not reset.locator("#reset-parts-value").is_editable()
    confirm = reset.get_by_role("button", name="Yes, set the count to 1000000")
    confirm.scroll_into_view_if_needed()
    page.screenshot(path=str(Path(stack.workdir) / "station-confirm-1024.png"))

    # Changing the number: its field again, the question and its answer gone.
    reset.get_by_role("button", name="Change the number").click()
    page.wait_for_function(
        """() => !document.querySelector("#station-actions .confirm-above")
             && !document.querySelector("#reset-parts-value").readOnly"""
    )
    reset = page.locator("#station-actions details:has(form[action$='/reset_parts/'])")
    field = reset.locator("#reset-parts-value")
    assert field.input_value() == "1000000"
    assert page.evaluate("document.activeElement?.id") == "reset-parts-value"
    assert submits(reset) == ["Confirm: reset the count"]
    page.screenshot(path=str(Path(stack.workdir) / "station-confirm-changed-1024.png"))
    field.fill("999999")
    reset.get_by_role("button", name="Confirm: reset the count").click()
    confirm = page.locator("#station-actions").get_by_role(
        "button", name="Yes, set the count to 999999"
    )
    confirm.wait_for(state="visible")
    assert page.evaluate("window.__marker") == 1, "the page was reloaded: not in place"
    confirm.click()
    page.wait_for_function(
        """() => document.querySelector(
             "#station-actions details:has(form[action$='/reset_parts/']) .result")
             ?.dataset.outcome === "ok" """
    )
    assert result.inner_text().strip() == "Part count reset."
    assert page.evaluate("window.__marker") == 1, "the page was reloaded: not in place"
