"""The wall in a real browser: live tiles, the stale banner, and a socket that comes back.

One wall page is opened once and never reloaded: every scenario checks that the page it
started with is the page it ends with (``window.__marker``). The scenarios run in order on
the same processes; each starts by waiting for a healthy wall.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cwork.client import CWorkClient
from cwork.errors import StateArchived
from tests.browser.conftest import (
    API_KEY,
    POLL_INTERVAL,
    TABLET,
    TV,
    WEBSOCKET_TIMEOUT,
    Stack,
    Wall,
    open_wall,
    wait_for_snapshot,
)

pytestmark = pytest.mark.slow

#: A tile shows the state's name and colour: true once ``#tile-<pk>`` does.
TILE_SHOWS = """
([id, name, rgb]) => {
  const tile = document.getElementById(id);
  if (!tile) return false;
  const state = tile.querySelector(".tile-state");
  return !!state && state.textContent.trim() === name
    && getComputedStyle(tile).backgroundColor === rgb;
}
"""
BANNER_HIDDEN = """
() => {
  const banner = document.getElementById("wall-banner");
  return banner.hidden && banner.offsetParent === null
    && !document.body.classList.contains("stale");
}
"""
BANNER_STALE = """
(prefix) => {
  const banner = document.getElementById("wall-banner");
  return !banner.hidden && banner.offsetParent !== null
    && banner.textContent.startsWith(prefix) && document.body.classList.contains("stale");
}
"""
#: True while the wall's socket has been open for at least a moment and for less than
#: ``max_age`` ms: the server's timed close (every WEBSOCKET_TIMEOUT s) is then far enough away
#: that a measurement of the live path is not one of the reconnection.
SOCKET_FRESH = """
(maxAge) => {
  const log = window.__sockets || [];
  const last = log[log.length - 1];
  return !!last && last.type === "open" && Date.now() - last.at > 300
    && Date.now() - last.at < maxAge;
}
"""


def rgb(color: str) -> str:
    """``#RRGGBB`` as the browser computes it."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def tile_id_of(wall: Wall, name: str) -> str:
    found = wall.page.evaluate(
        """name => {
          for (const tile of document.querySelectorAll("#wall-grid > li.tile")) {
            if (tile.querySelector(".tile-name").textContent.trim() === name) return tile.id;
          }
          return null;
        }""",
        name,
    )
    assert found, f"no tile is named {name!r}"
    return found


def wait_until_healthy(wall: Wall, timeout: float = 20.0) -> None:
    wall.page.wait_for_function(BANNER_HIDDEN, timeout=timeout * 1000)


def wait_for_fresh_socket(wall: Wall) -> None:
    """Until the socket was opened less than 4 s ago (at most one timed close away)."""
    wall.page.wait_for_function(SOCKET_FRESH, arg=4000, timeout=(WEBSOCKET_TIMEOUT + 8) * 1000)


def change_state_and_watch(stack: Stack, wall: Wall, comment: str) -> float:
    """Change a writable station's state in CWork; seconds until its tile showed it.

    Fails if the tile did not show the new state's name and colour within a poll interval
    and a second of the change.
    """
    bound = POLL_INTERVAL + 1
    with CWorkClient(stack.sim_url, API_KEY) as client:
        stations = [s for s in client.stations() if not s.disabled and s.mdc_mode]
        assert stations, "the simulated factory has no writable station"
        station = stations[0]
        current = client.station_status(station.handle).state.handle
        live = [s for s in client.states() if not s.extra.get("Archived") and s.color]
        # Top-level states first: they are what an operator picks.
        candidates = sorted(
            (s for s in live if s.handle != current), key=lambda s: s.parent_handle is not None
        )
        tile_id = tile_id_of(wall, station.name)
        for state in candidates:
            started = time.monotonic()
            try:
                client.change_state(station.handle, state.handle, comment)
            except StateArchived:
                continue
            break
        else:
            pytest.fail(f"no state to switch station {station.handle} to")
    assert state.color is not None  # the states tried all have one
    left = bound - (time.monotonic() - started)
    try:
        wall.page.wait_for_function(
            TILE_SHOWS,
            arg=[tile_id, state.name, rgb(state.color)],
            timeout=max(1.0, left * 1000),
            polling=50,
        )
    except Exception as exc:
        shown = wall.page.evaluate(
            """id => { const t = document.getElementById(id);
                       return t && [t.className, t.querySelector('.tile-state')?.textContent,
                                    getComputedStyle(t).backgroundColor]; }""",
            tile_id,
        )
        pytest.fail(
            f"#{tile_id} ({station.name}) did not show {state.name!r} {rgb(state.color)} "
            f"within {bound:g} s of the change: it shows {shown} ({exc.__class__.__name__})",
            pytrace=False,
        )
    elapsed = time.monotonic() - started
    assert elapsed <= bound, f"{elapsed:.2f} s > {bound:g} s"
    return elapsed


def mark_page(wall: Wall) -> None:
    wall.page.evaluate("window.__marker = 1")


def assert_not_reloaded(wall: Wall) -> None:
    assert wall.page.evaluate("window.__marker") == 1, "the page was reloaded"


def test_a_state_change_in_cwork_reaches_its_tile_without_a_reload(stack: Stack, wall: Wall):
    wait_until_healthy(wall)
    mark_page(wall)
    # The server closes sockets every WEBSOCKET_TIMEOUT s for the reconnection test below;
    # measure the live path on a socket that is not about to be closed.
    wait_for_fresh_socket(wall)

    elapsed = change_state_and_watch(stack, wall, "browser test")

    print(f"tile updated {elapsed:.2f} s after the change")
    assert_not_reloaded(wall)


def stale_prefix(wall: Wall) -> str:
    """The stale banner's text up to its time."""
    return wall.page.evaluate(
        "document.getElementById('wall-banner').dataset.textStale.split('%(time)s')[0]"
    )


NONE_NOT_REPORTING = "() => !document.querySelector('#wall-grid > li.tile.not-reporting')"


def not_reporting(wall: Wall) -> list[str]:
    return wall.page.evaluate(
        "Array.from(document.querySelectorAll('#wall-grid > li.tile.not-reporting'), t => t.id)"
    )


def test_the_wall_shows_stale_data_as_stale_and_recovers_by_itself(stack: Stack, wall: Wall):
    page = wall.page
    wait_until_healthy(wall)
    mark_page(wall)
    stale_after = float(page.evaluate("document.body.dataset.staleAfter"))
    prefix = stale_prefix(wall)
    try:
        killed_ms = page.evaluate("Date.now()")
        stack.kill_simulator()
        killed = time.monotonic()
        # The last heartbeat came at most a poll ago; the page checks every second.
        bound = stale_after + 3 * POLL_INTERVAL + 1
        page.wait_for_function(BANNER_STALE, arg=prefix, timeout=bound * 1000, polling=100)
        shown_after = time.monotonic() - killed
        banner = page.locator("#wall-banner")
        assert banner.is_visible()
        assert banner.inner_text().startswith(prefix)
        assert "stale" in page.evaluate("document.body.className").split()
        tile_note = page.evaluate(
            "getComputedStyle(document.querySelector('.wall-grid > .tile'), '::after').content"
        )
        assert "last update" in tile_note  # each dimmed tile says when its data is from
    finally:
        if stack.simulator is None:
            stack.start_simulator()
    restarted = time.monotonic()
    # The outage lasts a few polls, so the dashboard's doubling back-off retries within about
    # as long again; then one heartbeat hides the banner.
    bound = 20.0
    page.wait_for_function(BANNER_HIDDEN, timeout=bound * 1000, polling=100)
    hidden_after = time.monotonic() - restarted
    print(
        f"stale banner {shown_after:.1f} s after the kill, gone {hidden_after:.1f} s after restart"
    )
    live_as_of = page.evaluate(
        "Date.parse(document.getElementById('wall-heartbeat').dataset.liveAsOf)"
    )
    assert live_as_of > killed_ms, "the banner went without news from the restarted CWork"
    assert_not_reloaded(wall)


def test_a_wall_opened_during_an_outage_shows_live_tiles_once_cwork_is_back(
    stack: Stack, context: Any, wall: Wall
):
    """A screen switched on (or reconnecting) while CWork is down gets stale tiles; once CWork
    answers again and the banner goes, its tiles must be live again too, not "not reporting"."""
    wait_until_healthy(wall)
    prefix = stale_prefix(wall)
    late: Wall | None = None
    try:
        try:
            stack.kill_simulator()
            wall.page.wait_for_function(BANNER_STALE, arg=prefix, timeout=10_000)
            late = open_wall(context, TV)
            late.page.wait_for_function(BANNER_STALE, arg=prefix, timeout=3_000)
        finally:
            if stack.simulator is None:
                stack.start_simulator()
        late.page.wait_for_function(BANNER_HIDDEN, timeout=20_000, polling=100)
        wait_until_healthy(wall)
        # Live again within a few polls (a loaded machine may need more than one): a tile
        # left "not reporting" by the outage never comes back by itself, and fails here.
        with contextlib.suppress(PlaywrightTimeout):
            late.page.wait_for_function(
                NONE_NOT_REPORTING, timeout=int(10 * POLL_INTERVAL * 1000), polling=100
            )
        striped = not_reporting(late)
        banner_hidden = late.page.evaluate(BANNER_HIDDEN)
        beat = late.page.evaluate("document.getElementById('wall-heartbeat').outerHTML")
    finally:
        if late is not None:
            late.page.close()
    assert banner_hidden
    assert not striped, (
        f"the banner says the data is fresh ({beat}) but {len(striped)} of the tiles are still "
        f"shown as not reporting: {striped}"
    )


def test_the_wall_reconnects_after_the_server_closes_its_socket(stack: Stack, wall: Wall):
    page = wall.page
    wait_until_healthy(wall)
    mark_page(wall)
    wait_for_fresh_socket(wall)
    opened = len(wall.sockets)
    first = wall.sockets[-1]
    since = page.evaluate("Date.now()")

    # daphne closes it after WEBSOCKET_TIMEOUT s (it checks every 2 s).
    page.wait_for_function(
        "since => (window.__sockets || []).some(e => e.type === 'close' && e.at > since)",
        arg=since,
        timeout=(WEBSOCKET_TIMEOUT + 4) * 1000,
    )
    close = next(e for e in wall.socket_log() if e["type"] == "close" and e["at"] > since)
    # The first retry waits at most a second (jittered).
    page.wait_for_function(
        "since => (window.__sockets || []).some(e => e.type === 'open' && e.at > since)",
        arg=close["at"],
        timeout=5000,
    )
    reopened = next(e for e in wall.socket_log() if e["type"] == "open" and e["at"] > close["at"])
    gap = reopened["at"] - close["at"]
    print(f"server closed the socket with code {close['code']}, reopened {gap} ms later")
    # The premise: a normal close, which htmx's ws extension does not retry by itself.
    assert close["code"] == 1000, close
    # Playwright's own socket events (the close, the new socket, its first frames) arrive
    # while it waits on the page.
    deadline = time.monotonic() + 10

    def seen() -> bool:
        return (
            first.closed is not None
            and len(wall.sockets) > opened
            and bool(wall.sockets[-1].snapshot)
        )

    while not seen() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert first.closed is not None, "Playwright did not see the first socket close"
    assert len(wall.sockets) > opened, "no second socket was opened"
    second = wall.sockets[-1]
    assert second.created >= first.closed
    assert second.url == first.url
    wait_until_healthy(wall, timeout=3)
    assert second.snapshot, "the new socket did not bring a snapshot of the grid"

    elapsed = change_state_and_watch(stack, wall, "browser test after reconnection")

    print(f"tile updated {elapsed:.2f} s after the change, on the second socket")
    assert_not_reloaded(wall)


def test_screenshots_of_the_wall_on_a_tv_and_a_tablet(context: Any, wall: Wall, tmp_path: Path):
    shots: list[Path] = []
    tablet = open_wall(context, TABLET)
    try:
        for name, view in (("wall-tv.png", wall), ("wall-tablet.png", tablet)):
            wait_for_fresh_socket(view)
            wait_until_healthy(view, timeout=5)
            path = tmp_path / name
            view.page.screenshot(path=str(path))
            shots.append(path)
        assert wall.page.viewport_size == TV
        assert tablet.page.viewport_size == TABLET
    finally:
        tablet.page.close()
    target = os.environ.get("SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for path in shots:
            shutil.copy2(path, Path(target) / path.name)
    for path in shots:
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"


#: What a freshly opened wall looks like, measured in the page.
LAYOUT = """
() => {
  const grid = document.getElementById("wall-grid");
  const tiles = Array.from(grid.querySelectorAll(":scope > li.tile:not([data-page-hidden])"));
  const box = grid.getBoundingClientRect();
  const bottom = Math.max(...tiles.map(t => t.getBoundingClientRect().bottom));
  const clipped = [];
  for (const tile of tiles) {
    for (const line of tile.querySelectorAll(".tile-name, .tile-state")) {
      const shown = Math.round(line.getBoundingClientRect().height), full = line.scrollHeight;
      if (shown < full - 1) clipped.push(`${tile.id} ${line.className}: ${shown} of ${full} px`);
    }
  }
  const style = getComputedStyle(grid);
  return {
    columns: style.gridTemplateColumns.split(" ").length,
    rows: style.gridTemplateRows.split(" ").length,
    unused: Math.round(box.bottom - bottom),
    clipped: clipped,
    name: getComputedStyle(tiles[0].querySelector(".tile-name")).fontSize,
    tile: [Math.round(tiles[0].clientWidth), Math.round(tiles[0].clientHeight)],
  };
}
"""


@pytest.mark.parametrize("viewport", [TV, TABLET], ids=["tv", "tablet"])
def test_a_freshly_opened_wall_fills_the_screen_with_readable_tiles(
    context: Any, viewport: dict[str, int]
):
    """Tiles fill the screen (wall.css: "a TV at 5 m") and each says, in full, which station
    it is and in which state, once the socket's snapshot has arrived."""
    view = open_wall(context, viewport)
    try:
        wait_for_snapshot(view.page)
        layout = view.page.evaluate(LAYOUT)
    finally:
        view.page.close()
    print(viewport, layout)
    clipped = layout.pop("clipped")
    # The last row of tiles reaches the bottom of the grid (its padding and a gap aside).
    assert layout["unused"] <= 20, f"the tiles leave {layout['unused']} px unused: {layout}"
    assert not clipped, f"names or states cut off ({layout}): {clipped}"
