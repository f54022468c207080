"""The shift review in a real browser: a manager on a tablet reads it, taps the timeline for
details, exports it and prints it on A4 landscape."""

from __future__ import annotations

import json
from pathlib import Path
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


#: Alarms whose labels are too long for the room left of the Pareto's bars: capitals, wide
#: letters, accents (what CNCs report), stored as the history sync stores CWork's.
LONG_ALARMS = [
    ["WWW-9031", "MAIN SPINDLE MOTOR OVERHEAT — COOLANT PUMP PRESSURE LOW, CHECK FILTER"],
    ["ÉMULSION-77", "ÉCART DE VITESSE BROCHE ÉLEVÉ, VÉRIFIER LE CAPTEUR ET LA COURROIE"],
    ["MMM-1", "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM"],
]
#: Run in ``manage.py shell``: long alarms of eight hours on one station, ended before its
#: history's cursor (so the next sync leaves them), and the custom range that holds them.
ADD_LONG_ALARMS = """
import json, os
from datetime import timedelta
from django.utils import timezone
from stations.models import AlarmInterval, Station
station = (Station.objects.filter(present_in_cwork=True, history_synced_until__isnull=False)
           .order_by("pk").first())
edge = station.history_synced_until
for n, (code, message) in enumerate(json.loads(os.environ["TEST_ALARMS"])):
    end = edge - timedelta(minutes=30 + n)
    AlarmInterval.objects.create(station=station, code=code, message=message,
                                 start=end - timedelta(hours=8), end=end)
start, stop = (timezone.localtime(t) for t in (edge - timedelta(hours=9), edge))
print(start.strftime("%Y-%m-%dT%H:%M"), stop.strftime("%Y-%m-%dT%H:%M"))
"""
#: Each Pareto label's box against its SVG's box (negative: past the SVG's edge).
PARETO_LABELS = """
() => Array.from(document.querySelectorAll("svg.pareto-svg")).flatMap(svg => {
  const box = svg.getBoundingClientRect();
  return Array.from(svg.querySelectorAll("text.pareto-label"), text => {
    const r = text.getBoundingClientRect();
    return {text: text.textContent, left: r.left - box.left, right: box.right - r.right,
            width: r.width, title: text.parentElement.querySelector("title").textContent};
  });
})
"""


def test_long_pareto_labels_fit_in_the_chart_on_screen_and_printed(context: Any, stack: Stack):
    found = stack.manage(
        "shell", "-c", ADD_LONG_ALARMS, env={"TEST_ALARMS": json.dumps(LONG_ALARMS)}
    )
    start, end = found.stdout.split()[-2:]
    page = context.new_page()
    page.set_viewport_size(TABLET)
    try:
        page.goto(f"/kpis/review/?scope=all&period=custom&start={start}&end={end}")
        page.wait_for_selector("svg.pareto-svg text.pareto-label")
        for media in ("screen", "print"):
            page.emulate_media(media=media)
            page.screenshot(path=str(Path(stack.workdir) / f"pareto-{media}.png"), full_page=True)
            labels = page.evaluate(PARETO_LABELS)
            ours = [label for label in labels if label["title"].startswith(("WWW", "ÉMU", "MMM"))]
            assert len(ours) == len(LONG_ALARMS), labels
            for label in ours:
                assert label["text"].endswith("…"), label  # cut, and whole on hover
                assert label["title"].split(": ")[0].startswith(label["text"][:-1].rstrip())
            for label in labels:
                assert label["left"] >= -0.5, f"{media}: {label} starts left of its chart"
                assert label["width"] > 0, label
    finally:
        page.emulate_media(media="screen")
        page.close()
