"""Colour is never the only signal: on a TV, every tile shows its bucket's icon, named for
screen readers, drawn in the tile's text colour, beside the state's name and inside the tile."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import TV, open_wall, wait_for_snapshot

pytestmark = pytest.mark.slow

MARKS = """
() => {
  const shown = "#wall-grid > li.tile:not([data-page-hidden])";
  const tiles = Array.from(document.querySelectorAll(shown));
  return tiles.map(tile => {
    const mark = tile.querySelector(".tile-state > .mark");
    if (!mark) return {id: tile.id, mark: null};
    const box = mark.getBoundingClientRect(), outer = tile.getBoundingClientRect();
    const style = getComputedStyle(mark);
    return {
      id: tile.id,
      mark: Array.from(mark.classList).find(c => c.startsWith("mark-")),
      label: mark.getAttribute("aria-label"),
      role: mark.getAttribute("role"),
      size: [Math.round(box.width), Math.round(box.height)],
      inside: box.left >= outer.left && box.right <= outer.right
        && box.top >= outer.top && box.bottom <= outer.bottom,
      painted: style.backgroundColor === getComputedStyle(tile).color,
      mask: (style.maskImage || style.webkitMaskImage || "").startsWith("url("),
      opacity: getComputedStyle(tile).opacity,
    };
  });
}
"""
BUCKETS = {"production", "own_stop", "failure", "induced_stop", "disengaged", "none"}


def test_every_tile_on_a_tv_shows_its_mark(context: Any):
    view = open_wall(context, TV)
    try:
        wait_for_snapshot(view.page)
        tiles = view.page.evaluate(MARKS)
    finally:
        view.page.close()
    assert tiles, "no tile on the wall"
    for tile in tiles:
        assert tile["mark"] is not None, f"{tile['id']} has no mark"
        assert tile["mark"][len("mark-") :] in BUCKETS, tile
        assert tile["role"] == "img", tile
        assert tile["label"], tile
        assert tile["mask"], f"the mark has no icon: {tile}"
        assert tile["painted"], f"the mark is not drawn in the text colour: {tile}"
        assert min(tile["size"]) >= 12, f"too small: {tile}"
        assert tile["inside"], f"outside its tile: {tile}"
        assert tile["opacity"] == "1", tile
    print(sorted({t["mark"] for t in tiles}))
    # The simulated factory has stations producing and stopped: more than one kind of mark.
    assert len({t["mark"] for t in tiles}) >= 2
