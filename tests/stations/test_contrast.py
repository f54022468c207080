"""Text on state colours meets WCAG AA (4.5:1): every colour the simulator and CWork's
documentation use, the fixed colours text is drawn on, stale tiles, malformed colours."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.colours import (
    NEUTRAL,
    contrast_ratio,
    parse_hex,
    readable_text_color,
    relative_luminance,
    state_color,
)
from simulator.world import _make_states
from tests.lookups import search

AA = 4.5
ROOT = Path(__file__).resolve().parents[2]
WALL_CSS = (ROOT / "static/dashboard/wall.css").read_text()
DASHBOARD_CSS = (ROOT / "static/dashboard/dashboard.css").read_text()
STATIONS_CSS = (ROOT / "static/stations/stations.css").read_text()
#: The page's text colour (--fg) on dark surfaces.
FG = search(r"--fg: (#[0-9a-f]{6})", DASHBOARD_CSS).group(1)

SIMULATOR_COLORS = sorted({s.color for s in _make_states()})
#: The colours CWork's API documentation (v1.9) shows: its "Colors" table and its state
#: examples (GET /states, /states/{id}, the status answers).
CWORK_DOC_COLORS = [
    "#0000FF", "#FF0000", "#FFFF00", "#FFFFFF", "#000000", "#00FF00",  # "Colors"
    "#87D37C", "#808080", "#008000",  # states and statuses
]  # fmt: skip
DOC = Path("/work/shared/cwork-api/cwork-api-v1.9.txt")


def mix(a: str, b: str, b_share: float) -> str:
    """CSS ``color-mix(in srgb, a, b <share>)``: channel by channel, in sRGB."""
    ca, cb = parse_hex(a), parse_hex(b)
    assert ca is not None
    assert cb is not None
    channels = (round(x * (1 - b_share) + y * b_share) for x, y in zip(ca, cb, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*channels)


def test_contrast_ratio_follows_wcag():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    # WCAG's own example values: #767676 on white is the lightest grey that passes AA.
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#777777", "#ffffff") < AA
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#FF0000") == pytest.approx(0.2126)


def test_the_lists_cover_the_documentations_colours():
    if not DOC.exists():
        pytest.skip("CWork's documentation is not in this checkout")
    documented = {c.upper() for c in re.findall(r"#[0-9A-Fa-f]{6}\b", DOC.read_text())}
    assert documented <= set(CWORK_DOC_COLORS)


@pytest.mark.parametrize("color", sorted(set(SIMULATOR_COLORS) | set(CWORK_DOC_COLORS)))
def test_text_on_every_state_colour_meets_aa(color):
    text = readable_text_color(color)
    assert text in ("#000000", "#ffffff")
    assert contrast_ratio(text, color) >= AA, (color, text)


@pytest.mark.parametrize("color", sorted(set(SIMULATOR_COLORS) | set(CWORK_DOC_COLORS)))
def test_stale_tiles_keep_their_text_at_aa_on_both_stripes(color):
    """wall.css stripes a stale tile with the state's colour and a mix moved away from the
    text colour; the text is never dimmed."""
    assert "opacity" not in search(r"body\.stale [^{]*\.tile[^{]*\{[^}]*\}", WALL_CSS).group(0)
    text = readable_text_color(color)
    selector = r"\.tile\.ink-dark" if text == "#000000" else r"\.tile"
    mixing = r"color-mix\(in srgb, var\(--state\), (#[0-9a-f]{3,6}) (\d+)%\)"
    rule = re.search(selector + r" \{ --stale-stripe: " + mixing, WALL_CSS)
    assert rule, "the stale stripe rule moved: update this test"
    stripe = mix(color, state_color(rule.group(1)), int(rule.group(2)) / 100)
    assert contrast_ratio(text, color) >= AA
    assert contrast_ratio(text, stripe) >= AA, (color, stripe, text)


def test_the_tile_no_longer_fades_its_text():
    for css in (WALL_CSS, STATIONS_CSS):
        for rule in re.findall(r"[^{}]*(?:stale|disabled|not-reporting)[^{]*\{[^}]*\}", css):
            assert "opacity" not in rule, rule
            assert "grayscale" not in rule, rule


def test_fixed_surfaces_with_text_meet_aa():
    # The neutral tile (no state, malformed colour) with its chosen text.
    assert contrast_ratio(readable_text_color(NEUTRAL), NEUTRAL) >= AA
    # Not reporting: the page's text on both stripes of the tile and of the station page.
    for css in (WALL_CSS, STATIONS_CSS):
        stripes = re.search(
            r"\.not-reporting \{ background: repeating-linear-gradient\(135deg, "
            r"(#[0-9a-f]{6}) 0 \d+px, (#[0-9a-f]{6})",
            css,
        )
        assert stripes
        for stripe in stripes.groups():
            assert contrast_ratio(FG, stripe) >= AA
    # Disabled tiles: the page's text on their dark surface.
    disabled = re.search(
        r"\.tile\.disabled \{ background: (#[0-9a-f]{6}); color: var\(--fg\)", WALL_CSS
    )
    assert disabled
    assert contrast_ratio(FG, disabled.group(1)) >= AA
    # The stale banners: the wall's and the pages'.
    wall = re.search(
        r"\.wall-banner \{[^}]*background: (#[0-9a-f]{6}); color: (#[0-9a-f]{6})", WALL_CSS
    )
    page = re.search(
        r"\.banner\.stale \{ background: (#[0-9a-f]{6}); color: (#[0-9a-f]{6})", DASHBOARD_CSS
    )
    for banner in (wall, page):
        assert banner
        assert contrast_ratio(banner.group(2), banner.group(1)) >= AA


@pytest.mark.parametrize("bad", ["", "red", "#12", "#12345", "#gggggg", "#1234567", None, "  "])
def test_a_malformed_colour_is_drawn_neutral_with_readable_text(bad):
    drawn = state_color(bad)
    assert drawn == NEUTRAL
    text = readable_text_color(bad or "")
    assert contrast_ratio(text, drawn) >= AA


def test_a_short_colour_is_spelt_out():
    assert state_color("#ff0") == "#ffff00"
    assert readable_text_color("#ff0") == "#000000"
    assert state_color("#87D37C") == "#87D37C"


@pytest.mark.parametrize("color", sorted(set(SIMULATOR_COLORS) | set(CWORK_DOC_COLORS)))
def test_the_station_pages_fact_boxes_keep_the_text_at_aa(color):
    """stations.css tints the live panel's boxes with black under white text, white under
    black text: the tint only moves the background away from the text."""
    tint = r"background: rgba\((\d+), \d+, \d+, ([\d.]+)\); \}"
    dark = re.search(r"\.live-facts div \{[^}]*" + tint, STATIONS_CSS)
    light = re.search(r"\.station-live\.ink-dark[^{]*\.live-facts div \{ " + tint, STATIONS_CSS)
    assert dark
    assert light
    text = readable_text_color(color)
    found = light if text == "#000000" else dark
    ink = "#ffffff" if found.group(1) == "255" else "#000000"
    box = mix(color, ink, float(found.group(2)))
    assert contrast_ratio(text, box) >= AA, (color, box, text)
    assert "opacity" not in search(r"\.live-facts dt \{[^}]*\}", STATIONS_CSS).group(0)
    assert "opacity" not in search(r"\.tile-order \{[^}]*\}", WALL_CSS).group(0)
