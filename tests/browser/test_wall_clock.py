"""The wall's clock tells the plant's time, as every other time on the page, whatever zone the
TV's browser is set to: here the plant is in Paris (the dashboard's default, as the shared
stack runs it) and the browser in Los Angeles."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import TV, Stack, logged_in, open_wall

pytestmark = pytest.mark.slow

PLANT_ZONE = "Europe/Paris"
BROWSER_ZONE = "America/Los_Angeles"


@pytest.fixture(scope="module")
def context(browser: Any, stack: Stack) -> Iterator[Any]:
    """The demo user's session in a browser whose own zone is neither the plant's nor UTC."""
    with logged_in(browser, stack, timezone_id=BROWSER_ZONE) as ctx:
        yield ctx


def hh_mm(zone: str, minutes_ago: int = 0) -> str:
    return (dt.datetime.now(ZoneInfo(zone)) - dt.timedelta(minutes=minutes_ago)).strftime("%H:%M")


def test_the_wall_clock_shows_the_plants_time_not_the_browsers(context: Any):
    wall = open_wall(context, TV)
    try:
        page = wall.page
        browser_hour = page.evaluate("() => new Date().getHours()")
        assert browser_hour == dt.datetime.now(ZoneInfo(BROWSER_ZONE)).hour  # the premise
        expected = {hh_mm(PLANT_ZONE), hh_mm(PLANT_ZONE, 1)}  # a minute may turn meanwhile
        # live.js ticks every second: the clock shows the plant's time by then.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "shown => shown.includes(document.getElementById('wall-clock').innerText.trim())",
                arg=sorted(expected),
                timeout=5000,
            )
        shown = page.locator("#wall-clock").inner_text().strip()
        assert shown in expected, (
            f"the clock shows {shown!r}; the plant ({PLANT_ZONE}) is at {sorted(expected)}, "
            f"the browser ({BROWSER_ZONE}) at {hh_mm(BROWSER_ZONE)}"
        )
        assert page.locator("#wall-clock").get_attribute("data-time-zone") == PLANT_ZONE
        # The server's own times on the page (the heartbeat) are in the same zone.
        beat = page.locator("#wall-heartbeat").get_attribute("data-time") or ""
        assert beat[:5] in {hh_mm(PLANT_ZONE), hh_mm(PLANT_ZONE, 1)}, beat
    finally:
        wall.page.close()
