"""Reading the wall on the floor: from 5 m, the time in state and the parts against target are
the largest figures after the name; nothing spills out of a tile at 24 or 40 stations a screen,
on a TV or a tablet, in English or French, with the running shift's figures in; no figure is
cut (one the tile has no room for is left out whole, its value in its line's title); and a
name cut short stays told apart.

One stack of 40 stations (the wall's default page size) for the module; 24 tiles a screen is
the same wall with the page size of 24 (the layout script reads it from the page). Its
factory has a calendar with a shift running whatever the time, and CWork's figures for it
fetched before the dashboard starts, so the tiles' first figures refresh (at start) fills
their OEE and availability, as a running dashboard's tiles show them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import TABLET, TV, Stack, logged_in, open_wall, started_stack

pytestmark = pytest.mark.slow

MANY = 40
#: 1.2 % of a 1080-pixel screen: the cap height read from 5 m.
MIN_CAP = 0.012 * 1080

#: Run in ``manage.py shell`` before the dashboard starts: one calendar for every workshop,
#: a shift all day every day (so one runs whenever the test does), and the stations, their
#: history and CWork's figures for that shift synced from the simulator.
PREPARE = """
from datetime import time
from kpis.models import Calendar, Shift
from stations.jobs import run_job

calendar = Calendar.objects.create(name="All day", is_default=True)
Shift.objects.create(
    calendar=calendar, name="Day", start=time(0), end=time(0), saturday=True, sunday=True
)
for kind in ("catalogue", "history", "kpis"):
    result = run_job(kind, publish=lambda event: None)
    assert result.ok, (kind, result.reason)
"""

#: The running shift's figures are on the tiles: every enabled tile has its line, and CWork's
#: figures are in (an OEE shows as a number, not the "—" of a figure still waiting for them).
FIGURES_SHOWN = """
() => {
  const tiles = Array.from(document.querySelectorAll("#wall-grid > li.tile:not(.disabled)"));
  const lines = tiles.map(tile => tile.querySelector(".tile-kpis"));
  return lines.length > 0 && lines.every(Boolean)
    && lines.some(line => /^\\S+\\s+[0-9]/.test(line.textContent.trim()));
}
"""

#: Per shown tile: cap heights of its ticking time and of its part count (a canvas measure of
#: a "0" in each element's own font), its KPI line's figures (each shown whole inside its line,
#: or left out whole below it) and title, and whatever does not fit: the tile's content past
#: its box, a figure cut by an ellipsis or by its line's edge.
MEASURE = """
() => {
  const ctx = document.createElement("canvas").getContext("2d");
  function cap(el) {
    if (!el) return null;
    const s = getComputedStyle(el);
    ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    return ctx.measureText("0").actualBoundingBoxAscent;
  }
  const text = el => el.textContent.replace(/\\s+/g, " ").trim();
  const shown = "#wall-grid > li.tile:not([data-page-hidden])";
  return Array.from(document.querySelectorAll(shown)).map(tile => {
    const box = tile.getBoundingClientRect();
    const spills = [];
    const line = tile.querySelector(".tile-kpis");
    const lineBox = line && line.getBoundingClientRect();
    // Its figures (the whole line if it is not split into figures).
    const split = line ? Array.from(line.querySelectorAll(":scope > .kpi")) : [];
    const items = line && lineBox.height ? (split.length ? split : [line]) : [];
    const figures = items.map(el => {
      const r = el.getBoundingClientRect();
      const whole = r.left >= lineBox.left - 1 && r.right <= lineBox.right + 1
        && r.top >= lineBox.top - 1 && r.bottom <= lineBox.bottom + 1
        && r.right <= box.right + 1 && r.bottom <= box.bottom + 1
        && el.scrollWidth <= el.clientWidth + 1;
      const out = !whole && r.top >= lineBox.bottom - 1;
      if (!whole && !out) spills.push(`kpi cut (${text(el)})`);
      return {el, text: text(el), shown: whole, left_out: out};
    });
    const leftOut = figures.filter(f => f.left_out).map(f => f.el);
    if (tile.scrollHeight > tile.clientHeight + 1)
      spills.push(`height ${tile.scrollHeight} > ${tile.clientHeight}`);
    if (tile.scrollWidth > tile.clientWidth + 1)
      spills.push(`width ${tile.scrollWidth} > ${tile.clientWidth}`);
    for (const el of tile.querySelectorAll("*")) {
      if (leftOut.some(f => f.contains(el))) continue;  // out of view whole, by design
      const r = el.getBoundingClientRect();
      if (!r.width && !r.height) continue;  // not displayed
      if (r.bottom > box.bottom + 1 || r.right > box.right + 1)
        spills.push(`${el.className || el.tagName} outside`);
    }
    for (const el of tile.querySelectorAll(".tile-since, .tile-count, .tile-kpis"))
      if (el.getBoundingClientRect().width && el.scrollWidth > el.clientWidth + 1)
        spills.push(`${el.className} cut (${text(el)})`);
    return {
      id: tile.id,
      name: tile.querySelector(".tile-name").textContent.trim(),
      size: [Math.round(box.width), Math.round(box.height)],
      since: cap(tile.querySelector(".tile-since")),
      count: cap(tile.querySelector(".tile-count")),
      name_cap: cap(tile.querySelector(".tile-name")),
      others: Array.from(
        tile.querySelectorAll(".tile-state, .tile-program, .tile-kpis, .tile-order")).map(cap),
      figures: figures.map(({el, ...figure}) => figure),
      title: line ? line.getAttribute("title").replace(/\\s+/g, " ") : "",
      spills,
    };
  });
}
"""

#: Per shown tile: the name as the screen shows it (the characters painted inside their box,
#: "…" where some are cut), and its title and accessible text.
SHOWN_NAMES = """
() => {
  const ctx = document.createElement("canvas").getContext("2d");
  const shown = "#wall-grid > li.tile:not([data-page-hidden])";
  return Array.from(document.querySelectorAll(shown)).map(tile => {
    const link = tile.querySelector(".tile-name");
    const walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
    let text = "", skipped = false, node;
    while ((node = walker.nextNode())) {
      const clip = node.parentElement;
      const s = getComputedStyle(clip);
      ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      const cut = clip.scrollWidth > clip.clientWidth + 1;
      const box = clip.getBoundingClientRect(), outer = link.getBoundingClientRect();
      const right = Math.min(box.right, outer.right) - (cut ? ctx.measureText("…").width : 0);
      const bottom = tile.getBoundingClientRect().bottom;
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const r = range.getBoundingClientRect();
        if (r.right <= right + 0.5 && r.bottom <= bottom + 0.5) {
          if (skipped) { text += "…"; skipped = false; }
          text += node.data[i];
        } else skipped = true;
      }
      if (skipped) { text += "…"; skipped = false; }
    }
    return {id: tile.id, name: link.textContent.trim(), shown: text.trim(),
            title: link.getAttribute("title") || ""};
  });
}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A factory of 40 stations: a full page of the wall."""

    def prepare(stack: Stack) -> None:
        stack.manage("migrate", "--verbosity", "0")
        stack.manage("shell", "-c", PREPARE)

    with started_stack(tmp_path_factory, stations=MANY, prepare=prepare) as processes:
        yield processes


def set_language(stack: Stack, language: str) -> None:
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from accounts.models import Profile; "
        "user = get_user_model().objects.get(username='demo'); "
        f"Profile.objects.update_or_create(user=user, defaults={{'language': {language!r}}})",
    )


def wall_of(context: Any, viewport: dict[str, int], per_page: int) -> Any:
    """The wall with ``per_page`` tiles a screen, its snapshot in, times ticking and the
    running shift's figures on its tiles."""
    view = open_wall(context, viewport, tiles=MANY)
    page = view.page
    page.wait_for_function(
        "() => (window.__sockets || []).some(e => e.type === 'open')", timeout=10_000
    )
    page.wait_for_function(
        "() => document.querySelector('#wall-grid .tile-since time')?.textContent.includes('min')"
    )
    page.wait_for_function(FIGURES_SHOWN)
    page.evaluate(
        "n => { document.body.dataset.pageSize = String(n); dispatchEvent(new Event('resize')); }",
        per_page,
    )
    page.wait_for_function(
        "n => document.querySelectorAll('#wall-grid > li.tile:not([data-page-hidden])').length"
        " === n",
        arg=per_page,
    )
    return view


@pytest.mark.parametrize("per_page", [24, MANY])
def test_time_in_state_and_parts_read_from_5_m_and_every_tile_fits(
    browser: Any, stack: Stack, per_page: int
):
    for language in ("en", "fr"):
        set_language(stack, language)
        with logged_in(browser, stack) as context:
            for viewport in (TV, TABLET):
                view = wall_of(context, viewport, per_page)
                try:
                    assert view.page.evaluate("document.documentElement.lang") == language
                    tiles = view.page.evaluate(MEASURE)
                    view.page.screenshot(
                        path=str(
                            stack.workdir / f"wall-{per_page}-{language}-{viewport['width']}.png"
                        )
                    )
                finally:
                    view.page.close()
                where = f"{per_page} tiles, {viewport['width']}×{viewport['height']}, {language}"
                assert len(tiles) == per_page, where
                spilled = {t["id"]: t["spills"] for t in tiles if t["spills"]}
                assert not spilled, f"{where}: content does not fit its tile: {spilled}"
                lines = [t for t in tiles if t["figures"]]
                assert lines, f"{where}: no tile shows the shift's figures"
                for tile in lines:
                    oee, *rest = tile["figures"]
                    assert oee["shown"], f"{where}: the OEE is not shown whole: {tile}"
                    for figure in rest:
                        if figure["left_out"]:
                            value = figure["text"].lstrip("· ")
                            assert value in tile["title"], f"{where}: {value!r} is lost: {tile}"
                    if viewport is TV:  # a TV's tiles have room for every figure
                        assert all(f["shown"] for f in tile["figures"]), f"{where}: {tile}"
                if viewport is not TV:
                    continue
                since = [t for t in tiles if t["since"] is not None]
                counts = [t for t in tiles if t["count"] is not None]
                assert since, f"{where}: no time in state shown"
                assert counts, f"{where}: no part count shown"
                for tile in since + counts:
                    figures = [c for c in (tile["since"], tile["count"]) if c is not None]
                    assert min(figures) >= MIN_CAP, f"{where}: {tile}"
                    # The largest after the name.
                    assert min(figures) > max(c for c in tile["others"] if c), tile
                    assert min(figures) <= tile["name_cap"], tile


@pytest.mark.parametrize("per_page", [24, MANY])
def test_a_cut_name_stays_told_apart_on_a_tablet(browser: Any, stack: Stack, per_page: int):
    set_language(stack, "en")
    with logged_in(browser, stack) as context:
        view = wall_of(context, TABLET, per_page)
        try:
            names = view.page.evaluate(SHOWN_NAMES)
            view.page.screenshot(path=str(stack.workdir / f"names-{per_page}-tablet.png"))
        finally:
            view.page.close()
    assert any(n["shown"] != n["name"] for n in names), (
        f"no name is cut at {per_page} tiles on a tablet: the test shows nothing ({names})"
    )
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name["shown"], name["name"])
        assert other == name["name"], (
            f"{other!r} and {name['name']!r} both show as {name['shown']!r}"
        )
    for name in names:
        assert name["title"] == name["name"], f"the full name is not at hand: {name}"
