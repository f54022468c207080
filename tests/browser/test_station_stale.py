"""A station page through a CWork outage and back: it says its data is stale as the wall does
(the same heartbeat, banner and dimming), its timers stop, and it clears by itself."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import POLL_INTERVAL, TABLET, Stack, Wall, open_wall
from tests.browser.test_wall import BANNER_HIDDEN, BANNER_STALE

TICKING = """() => {
  const t = document.querySelector('#station-live .ticking');
  return t ? t.textContent : null;
}"""
#: True once the live part's time in state shows something else than ``arg``.
TICKED = "(before) => document.querySelector('#station-live .ticking').textContent !== before"
#: Blanks the time in state: the page's script writes it again at its next tick (the server
#: draws it as the script does, so an hour-long time may show the same text for a minute).
BLANKED = "() => { document.querySelector('#station-live .ticking').textContent = ''; }"


def assert_ticks(page: Any) -> None:
    """The page's clock runs: a blanked time in state is written again within a second or so."""
    page.evaluate(BLANKED)
    page.wait_for_function(TICKED, arg="", timeout=5_000)


def open_station(context: Any) -> Wall:
    """The page of a station with a time in state, on a tablet, its socket open and fresh."""
    station = open_wall(context, TABLET)
    page = station.page
    ids = page.evaluate(
        "Array.from(document.querySelectorAll('#wall-grid > li.tile'), t => t.id.slice(5))"
    )
    for pk in ids:
        page.goto(f"/stations/{pk}/")
        if page.evaluate(TICKING) is not None:
            break
    else:
        raise AssertionError("no station page shows a time in state")
    page.wait_for_function("() => (window.__sockets || []).some(s => s.type === 'open')")
    page.wait_for_function(BANNER_HIDDEN, timeout=20_000)
    return station


def test_a_station_page_shows_stale_data_as_stale_and_recovers_by_itself(
    stack: Stack, context: Any, tmp_path: Path
):
    station = open_station(context)
    page = station.page
    try:
        assert_ticks(page)  # live: the time ticks
        prefix = page.evaluate(
            "document.getElementById('wall-banner').dataset.textStale.split('%(time)s')[0]"
        )
        stale_after = float(
            page.evaluate("document.getElementById('wall-heartbeat').dataset.staleAfter")
        )
        try:
            stack.kill_simulator()
            bound = stale_after + 3 * POLL_INTERVAL + 1
            page.wait_for_function(BANNER_STALE, arg=prefix, timeout=bound * 1000, polling=100)
            assert page.locator("#wall-banner").is_visible()
            live = page.locator("#station-live")
            background = live.evaluate("el => getComputedStyle(el).backgroundImage")
            assert "repeating-linear-gradient" in background  # striped, as the wall's tiles
            note = live.evaluate("el => getComputedStyle(el, '::after').content")
            assert "last update" in note
            # The time in state stops where the last news left it: it does not move while
            # the page's own clock runs on for two seconds and more.
            stopped = page.evaluate(TICKING)
            started = page.evaluate("Date.now()")
            page.wait_for_function("t => Date.now() - t > 2500", arg=started, polling=100)
            assert page.evaluate(TICKING) == stopped
            page.screenshot(path=str(tmp_path / "station-stale-tablet.png"))
            print(f"screenshot: {tmp_path / 'station-stale-tablet.png'}")
        finally:
            if stack.simulator is None:
                stack.start_simulator()
        restarted = time.monotonic()
        page.wait_for_function(BANNER_HIDDEN, timeout=20_000, polling=100)
        print(f"station page fresh again {time.monotonic() - restarted:.1f} s after restart")
        assert_ticks(page)  # and it ticks again
        # The page's own mark follows the same heartbeat as the banner; on a loaded machine
        # a late poll may mark it stale again for a moment, so wait for a fresh reading.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                "() => !document.body.classList.contains('stale')", timeout=10_000, polling=100
            )
        assert "stale" not in page.evaluate("document.body.className").split()
    finally:
        page.close()
