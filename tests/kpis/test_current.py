"""The running shift's figures on the wall's tiles and the station page, refreshed on a schedule."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import kpis.current as current
from dashboard import wall
from dashboard.schedule import entries
from dashboard.tiles import tile_for, tile_stations
from kpis.current import (
    KPI_FIELD,
    KPI_TILE_REFRESH,
    TASK_NAME,
    cached_figures,
    current_shift_figures,
    publish_current_shift,
    refresh_current_shift_figures,
    review_url,
)
from kpis.demo import create_simulator_calendars
from kpis.engine import PESSIMISTIC
from kpis.figures import sync_cwork_figures
from kpis.models import WEEKDAYS, Calendar, PartCounting, PartTally
from kpis.tally import slot_of
from stations.catalogue import sync_catalogue
from stations.history import sync_history
from stations.live import poll_live
from stations.models import Station
from tests.lookups import present

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def build(cwork, clock) -> list[Station]:
    """The catalogue, the simulator's calendars, the history, one live poll, CWork's KPIs."""
    sync_catalogue(cwork, now=clock())
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)))
    assert create_simulator_calendars(workshops)
    for _ in range(3):
        sync_history(cwork, now=clock())
    poll_live(cwork, now=clock())
    sync_cwork_figures(cwork, now=clock())
    return list(tile_stations())


def test_stations_in_an_open_shift_have_figures_and_closed_ones_none(sim, cwork, clock):
    stations = build(cwork, clock)
    figures = current_shift_figures(stations, now=clock())  # 10:00 in Paris: all open
    assert set(figures) == {s.pk for s in stations}
    some = next(iter(figures.values()))
    assert some.start <= clock() < some.end
    assert some.availability is not None
    # Counting began with the first poll, after the shift started: parts unknown, not 0.
    assert some.parts_made is None

    night = clock() + timedelta(hours=12)  # 22:00: only the 3×8 workshops work
    at_night = current_shift_figures(stations, now=night)
    assert 0 < len(at_night) < len(stations)
    assert {f.shift_key.split("/")[1] for f in at_night.values()} == {"Night"}


def test_one_kpi_computation_per_distinct_shift_whatever_the_stations(
    sim, cwork, clock, monkeypatch
):
    stations = build(cwork, clock)
    calls: list[tuple[int, object, object]] = []
    real = current.station_kpis

    def counting(batch, start, end, **kwargs):
        calls.append((len(batch), start, end))
        return real(batch, start, end, **kwargs)

    monkeypatch.setattr(current, "station_kpis", counting)
    figures = current_shift_figures(stations, now=clock())
    spans = {(f.start, f.end) for f in figures.values()}
    assert len(calls) == len(spans) < len(stations)
    assert sum(n for n, _s, _e in calls) == len(stations)

    # One station per workshop needs as many queries as every station.
    one_each = list({s.workshop: s for s in stations}.values())
    assert len(one_each) < len(stations)
    with CaptureQueriesContext(connection) as few:
        current_shift_figures(one_each, now=clock())
    with CaptureQueriesContext(connection) as many:
        current_shift_figures(stations, now=clock())
    assert len(many) == len(few)


def test_parts_are_counted_from_the_shift_start_when_counted_all_shift(sim, cwork, clock):
    stations = build(cwork, clock)
    station = stations[0]
    figures = current_shift_figures(stations, now=clock())
    start = figures[station.pk].start
    PartCounting.objects.filter(station=station).update(since=start)
    PartTally.objects.create(station=station, slot=slot_of(start), parts=7, cycle_time=30.0)
    PartTally.objects.create(station=station, slot=start - timedelta(hours=1), parts=50)

    again = current_shift_figures([station], now=clock())[station.pk]
    assert again.parts_made is not None
    assert again.parts_made >= 7
    assert again.parts_made < 50 + 7


def test_a_refresh_returns_only_the_stations_whose_shown_values_changed(sim, cwork, clock):
    stations = build(cwork, clock)
    assert cached_figures() is None
    first = refresh_current_shift_figures(clock())
    assert first == {s.pk for s in stations}
    assert set(present(cached_figures())) == first
    assert refresh_current_shift_figures(clock()) == set()

    station = stations[0]
    start = present(cached_figures())[station.pk].start
    PartCounting.objects.filter(station=station).update(since=start)  # parts now known
    assert refresh_current_shift_figures(clock()) == {station.pk}

    # The shift changes for the workshops closing at 21:00 (and their tiles are cleared).
    night = clock() + timedelta(hours=12)
    changed = refresh_current_shift_figures(night)
    assert changed == {s.pk for s in stations}  # Night shift for some, none for the others
    assert len(present(cached_figures())) < len(stations)


def test_the_tile_shows_oee_and_availability_and_a_dash_for_blanks(sim, cwork, clock):
    stations = build(cwork, clock)
    refresh_current_shift_figures(clock())
    station = stations[0]
    figures = replace(present(cached_figures())[station.pk], oee=0.724, availability=None)

    html = wall.render_tile(tile_for(station, stale=False, now=clock(), shift=figures), oob=True)
    assert 'class="tile-kpis"' in html
    assert ">OEE</abbr>&nbsp;72&nbsp;%" in html
    assert "(TRS, NF E60-182" in html  # the norm's names, in titles
    assert "(DO, NF E60-182" in html
    assert ">Avail.</abbr>&nbsp;<span title=" in html
    assert "—</span>" in html
    assert "0&nbsp;%" not in html
    # Each figure whole in its own box (a small tile leaves the availability out, never cuts
    # it: wall.css), and both in the line's title.
    assert html.count('<span class="kpi">') == 2
    assert f'title="{figures.shift_label} · OEE&nbsp;72&nbsp;% · Avail.&nbsp;—"' in html

    closed = wall.render_tile(tile_for(station, stale=False, now=clock()), oob=True)
    assert "tile-kpis" not in closed
    ended = wall.render_tile(
        tile_for(station, stale=False, now=figures.end + timedelta(minutes=1), shift=figures),
        oob=True,
    )
    assert "tile-kpis" not in ended


def test_an_oee_above_100_percent_on_a_tile_is_marked_and_says_why(sim, cwork, clock):
    stations = build(cwork, clock)
    refresh_current_shift_figures(clock())
    station = stations[0]
    figures = replace(present(cached_figures())[station.pk], oee=1.18, performance=1.31)

    html = wall.render_tile(tile_for(station, stale=False, now=clock(), shift=figures), oob=True)
    why = str(PESSIMISTIC)  # the review's words, from one place
    assert why == "reference cycle time may be pessimistic"
    assert f'<span class="kpi-over" title="{why}">118&nbsp;%' in html
    assert f'<span class="over-mark" role="img" aria-label="{why}">*</span>' in html
    assert 'class="tile-kpis over"' in html  # its spaces pay for the mark (wall.css)

    for shown in (1.0, 0.724, 1.004):  # 100 % as shown is no mark
        plain = replace(figures, oee=shown)
        html = wall.render_tile(tile_for(station, stale=False, now=clock(), shift=plain), oob=True)
        assert "kpi-over" not in html
        assert "over-mark" not in html


def test_the_wall_snapshot_shows_the_cached_figures_and_follows_refreshes(sim, cwork, clock):
    stations = build(cwork, clock)
    before = "".join(wall.render_snapshot(wall.WallFilter(), clock()))
    assert "tile-kpis" not in before
    refresh_current_shift_figures(clock())
    after = "".join(wall.render_snapshot(wall.WallFilter(), clock()))
    assert after.count('class="tile-kpis"') == len(stations)


def test_the_refresh_is_scheduled_and_publishes_the_changed_tiles(sim, cwork, clock, published):
    stations = build(cwork, clock)
    (entry,) = [e for e in entries() if e.task == TASK_NAME]
    assert entry.interval == KPI_TILE_REFRESH == 60.0

    changed = publish_current_shift(clock(), publish=published.append)
    assert changed == {s.pk for s in stations}
    (event,) = published
    assert {c.station_id for c in event.changes} == changed
    assert all(c.fields == (KPI_FIELD,) for c in event.changes)

    messages = wall.fan_out(event)
    assert messages[wall.ALL_GROUP].count('class="tile-kpis"') == len(stations)

    assert publish_current_shift(clock(), publish=published.append) == set()
    assert len(published) == 1  # nothing changed: nothing sent


def test_a_refresh_never_passes_stale_data_off_as_live(sim, cwork, clock, published):
    build(cwork, clock)
    later = clock() + timedelta(hours=1)  # no poll since: the live data is an hour old
    publish_current_shift(later, publish=published.append)
    heartbeat = wall._heartbeat(published[-1])
    assert later.isoformat() not in heartbeat
    assert 'data-stale="1"' in heartbeat


@pytest.fixture
def viewer(client):
    """A manager: the review links are for those who may open the review."""
    user = get_user_model().objects.create_user("manager", password="x" * 12)
    user.groups.add(Group.objects.get(name="Manager"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ["Viewer", "Operator", "Supervisor"])
def test_roles_without_the_review_see_no_link_to_it(client, sim, cwork, clock, role):
    sync_catalogue(cwork, now=clock())
    create_simulator_calendars(sorted(set(Station.objects.values_list("workshop", flat=True))))
    poll_live(cwork, now=clock())
    user = get_user_model().objects.create_user(role.lower(), password="x" * 12)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    station = Station.objects.filter(present_in_cwork=True).first()
    assert station is not None
    page = client.get(f"/stations/{station.pk}/").content.decode()
    assert "Current shift" in page
    assert "/kpis/review/" not in page
    assert "Review this shift" not in page
    assert "Previous shift:" not in page
    assert client.get("/kpis/review/").status_code == 403  # the premise


def test_the_station_page_shows_the_current_shift_with_a_review_link(viewer, sim, cwork, clock):
    # No calendar: open 24/7, so a shift runs whatever the time the test runs at.
    sync_catalogue(cwork, now=clock())
    poll_live(cwork, now=clock())
    station = Station.objects.filter(present_in_cwork=True).first()
    assert station is not None

    page = viewer.get(f"/stations/{station.pk}/").content.decode()
    assert "Current shift" in page
    for name in ("OEE", "Availability", "Performance", "Quality", "Parts this shift"):
        assert name in page
    assert "—" in page  # quality: CWork gave no rate
    # No calendar, so no named shift: the link opens the review of the station's workshop's day.
    link = html.unescape(page.split('href="/kpis/review/?')[1].split('"')[0])
    query = parse_qs(link)
    assert query["period"] == ["day"]
    assert query["scope"] == [f"w:{station.workshop}"]
    figures = current.figures_for(station, timezone.now())
    assert figures is not None
    assert review_url(figures) == f"/kpis/review/?{link}"


def test_the_station_page_marks_figures_above_100_percent_and_says_why(
    viewer, sim, cwork, clock, monkeypatch
):
    from dashboard import station_views

    sync_catalogue(cwork, now=clock())
    poll_live(cwork, now=clock())
    station = Station.objects.filter(present_in_cwork=True).first()
    assert station is not None
    figures = current.figures_for(station, timezone.now())
    assert figures is not None  # no calendar: open 24/7
    over = replace(figures, oee=1.07, availability=0.9, performance=1.25, quality=0.95)
    monkeypatch.setattr(station_views, "figures_for", lambda station, now: over)

    page = viewer.get(f"/stations/{station.pk}/").content.decode()
    why = str(PESSIMISTIC)
    assert f'<span class="total-time kpi-over" title="{why}">107&nbsp;%' in page
    assert f'<span class="total-time kpi-over" title="{why}">125&nbsp;%' in page
    assert f"Above 100 %: {why}." in page

    plain = replace(over, oee=0.81, performance=0.9)
    monkeypatch.setattr(station_views, "figures_for", lambda station, now: plain)
    page = viewer.get(f"/stations/{station.pk}/").content.decode()
    assert "kpi-over" not in page
    assert "Above 100 %" not in page


def test_the_station_page_says_when_no_shift_runs(viewer, sim, cwork, clock, monkeypatch):
    sync_catalogue(cwork, now=clock())
    poll_live(cwork, now=clock())
    station = Station.objects.filter(present_in_cwork=True).first()
    assert station is not None
    # Its workshop follows a calendar with one short shift that is not running now.
    now = timezone.localtime()
    start = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    calendar = Calendar.objects.create(name="Short", workshops=[station.workshop])
    calendar.shifts.create(
        name="Short", start=start, end=end, **dict.fromkeys((day for day, _label in WEEKDAYS), True)
    )

    page = viewer.get(f"/stations/{station.pk}/").content.decode()
    assert "Current shift" in page
    assert "No shift is running" in page
    assert "Review this shift" not in page


def test_the_station_page_links_the_previous_shift_of_its_workshop(viewer, sim, cwork, clock):
    sync_catalogue(cwork, now=clock())
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)))
    create_simulator_calendars(workshops)
    poll_live(cwork, now=clock())
    station = Station.objects.filter(workshop=workshops[0]).first()
    assert station is not None

    page = viewer.get(f"/stations/{station.pk}/").content.decode()
    links = [html.unescape(q) for q in re.findall(r'href="/kpis/review/\?([^"]+)"', page)]
    assert "Previous shift:" in page
    query = parse_qs(links[-1])  # the previous shift's link comes last
    # Whenever the page is opened, the workshop's last finished shift is named and linked.
    assert query["scope"] == [f"w:{station.workshop}"]
    assert query["period"] == ["shift"]
    assert query["shift"][0] in page


def test_a_short_outage_keeps_the_shift_figures_known(sim, cwork, clock, settings):
    """CWork's figures are fetched every KPI_SYNC_INTERVAL on a fixed cadence; one fetch lost
    to a 25-second outage backs the job off until a later tick. Performance, quality and OEE,
    known before, stay known all along (no blank until the next fetch)."""
    from kpis.jobs import CWORK_FIGURES
    from stations.jobs import run_job

    interval = settings.KPI_SYNC_INTERVAL
    stations = build(cwork, clock)
    assert run_job(CWORK_FIGURES, client=cwork, now=clock()).ok
    one = stations[0]

    def known(label: str) -> None:
        figures = current_shift_figures(stations, now=clock())[one.pk]
        blank = [
            name for name in ("performance", "quality", "oee") if getattr(figures, name) is None
        ]
        assert not blank, f"{label}: {blank} blank ({figures.reasons})"

    known("before")
    # The next tick comes a little early (the cadence is fixed, each run's clock is read late).
    clock.advance(interval - 0.5)
    run_job(CWORK_FIGURES, client=cwork, now=clock())
    clock.advance(interval)
    sim.faults.configure(outage=True)  # the tick falls in the outage
    assert not run_job(CWORK_FIGURES, client=cwork, now=clock()).ok
    clock.advance(25)
    sim.faults.reset()
    ticks = 0
    while True:  # every minute until a tick fetches again, the scheduler's cadence
        for _minute in range(int(interval // 60)):
            clock.advance(60)
            known(f"{ticks} ticks after the outage")
        ticks += 1
        if run_job(CWORK_FIGURES, client=cwork, now=clock() - timedelta(seconds=25)).ran:
            break
        assert ticks < 10
    known("after the next fetch")


def test_a_blank_figure_says_what_it_waits_for_and_when(sim, cwork, clock, settings):
    """Without CWork's figures for the running shift (parts not counted since it began), the
    tiles' and station page's blank figures say they wait for CWork's figures, and when the
    next fetch is."""
    from kpis.jobs import CWORK_FIGURES
    from kpis.models import CWorkFigures
    from stations.jobs import run_job

    stations = build(cwork, clock)
    CWorkFigures.objects.all().delete()
    sim.faults.configure(outage=True)
    assert not run_job(CWORK_FIGURES, client=cwork, now=clock()).ok
    sim.faults.reset()
    figures = current_shift_figures(stations, now=clock())[stations[0].pk]
    assert figures.quality is None
    assert figures.performance is None
    retry = current.next_cwork_fetch(clock())
    assert retry is not None
    assert retry > clock()
    when = timezone.localtime(retry).strftime("%H:%M")
    reasons = figures.reasons
    assert f"waiting for CWork's quality figures, next fetch at {when}" in reasons["quality"]
    assert f"next fetch at {when}" in reasons["performance"]
    assert f"next fetch at {when}" in reasons["oee"]
