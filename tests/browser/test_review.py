"""The shift review in a real browser: a manager on a tablet reads it, taps the timeline for
details, exports it and prints it on A4 landscape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import STATIONS, TABLET, Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def review(context: Any, stack: Stack) -> Any:
    """Today's review of every station (the stack's dashboard has no calendar: open 24/7)."""
    page = context.new_page()
    page.set_viewport_size(TABLET)
    page.goto("/kpis/review/?scope=all&period=day")
    page.wait_for_selector("table.kpi-table tr.total-row")
    yield page
    page.close()


def test_the_review_fits_a_tablet_and_its_wide_table_scrolls_on_its_own(review: Any):
    rows = review.locator("table.kpi-table tbody tr:not(.total-row)").count()
    assert rows == STATIONS
    widths = review.evaluate(
        """() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth,
                   table: document.querySelector('table.kpi-table').scrollWidth,
                   box: document.querySelector('.review-kpis .review-scroll').clientWidth})"""
    )
    assert widths["page"] <= widths["screen"], widths  # no sideways scroll of the whole page
    assert widths["table"] > widths["box"], widths  # the table scrolls inside its own box
    controls = review.locator(".review-form :is(select, input, button)").all()
    shown = [c for c in controls if c.is_visible()]
    assert shown
    for control in shown:
        assert control.bounding_box()["height"] >= 44  # a finger's width


def test_tapping_a_bar_of_the_timeline_tells_its_state_and_times(review: Any):
    bar = review.locator(".tl-bars rect[data-state]").first
    state = bar.get_attribute("data-state")
    bar.click()
    panel = review.locator("[data-kpis-panel]")
    assert state in panel.inner_text()
    assert ":" in panel.inner_text()  # its start and end times


def test_the_exports_download_from_the_page(review: Any):
    with review.expect_download() as download:
        review.click("text=Export Excel")
    assert download.value.suggested_filename.endswith(".xlsx")
    with review.expect_download() as download:
        review.click("text=Export CSV")
    assert download.value.suggested_filename.endswith(".csv")


def test_the_printed_review_keeps_the_figures_and_drops_the_controls(review: Any):
    review.emulate_media(media="print")
    try:
        hidden = review.evaluate(
            """() => ['.review-form', '.review-actions'].map(
                 s => getComputedStyle(document.querySelector(s)).display)"""
        )
        assert hidden == ["none", "none"]
        assert review.locator("table.kpi-table").is_visible()
        pdf = review.pdf(format="A4", landscape=True, print_background=True)
        assert pdf.startswith(b"%PDF")
        assert len(pdf) > 10_000
    finally:
        review.emulate_media(media="screen")
