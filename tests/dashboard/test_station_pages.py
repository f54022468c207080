"""The station pages: the overview (most urgent first, searchable) and one station's day.

Data comes from the simulated factory through the real ingest. The selectors are checked
at a fixed instant against what the simulator itself says; the pages are checked at the
real time, because a view asks Django for now.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils import timezone

from core.colours import readable_text_color
from dashboard.overview import Severity, station_overview
from dashboard.station_page import day_bounds, station_detail
from dashboard.tiles import Pace
from kpis.timeline import axis_ticks
from simulator import ManualClock, Simulator
from simulator.world import BREAKDOWN, PRODUCTION, WorldError
from stations.jobs import run_job
from stations.models import (
    AlarmInterval,
    LiveStatus,
    Operation,
    State,
    Station,
    Top,
)
from tests.lookups import present
from tests.stations.helpers import other_state, writable_station

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def sync(kind, cwork, clock):
    result = run_job(kind, client=cwork, now=clock(), publish=lambda event: None)
    assert result.ok, result.reason
    return result


def sync_all(cwork, clock):
    for kind in ("catalogue", "live", "history", "orders"):
        sync(kind, cwork, clock)


@pytest.fixture(autouse=True)
def _short_backfill(settings):
    settings.HISTORY_BACKFILL_DAYS = 2


@pytest.fixture
def filled(cwork, clock):
    """The factory at the fixed test instant, everything synced."""
    sync_all(cwork, clock)


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create_user("supervisor", password="x" * 12)
    client.force_login(user)
    return client


class Site:
    """The simulated factory at the real time, for the views (which read Django's now)."""

    def __init__(self) -> None:
        self.clock = ManualClock(timezone.now().replace(microsecond=0))
        self.sim = Simulator(stations=12, seed=7, clock=self.clock, history_days=2)

    def sync(self, *kinds: str) -> None:
        self.clock.set(max(self.clock(), timezone.now().replace(microsecond=0)))
        with self.sim.client(retries=0) as cwork:
            for kind in kinds or ("catalogue", "live", "history", "orders"):
                sync(kind, cwork, self.clock)

    def writable(self) -> list[int]:
        handles = []
        for info in self.sim.world.stations:
            if not info.disabled and info.mdc_mode:
                handles.append(info.handle)
        return handles

    def set_state(self, handle: int, state: int, comment: str = "") -> bool:
        """True if the state (and comment) changed; already in that state is not an error."""
        try:
            self.sim.world.change_state(handle, state, comment)
        except WorldError as refusal:
            if refusal.code != 2020:
                raise
            return False
        return True

    def change_some_station(self, state: int, comment: str) -> int:
        """A station the change applies to (one already in that state keeps its comment)."""
        for handle in self.writable():
            if self.set_state(handle, state, comment):
                return handle
        raise AssertionError("every station is already in that state")


@pytest.fixture
def site() -> Site:
    site = Site()
    site.sync()
    return site


def expected_segments(sim, handle, day_start, now):
    """What CWork says the day was: its tops over [day_start, now], cut at the edges."""
    tops = sim.world.tops(handle, day_start, now, before=1)
    out = []
    for top in tops:
        start, end = max(top.start, day_start), min(top.end or now, now)
        if end > start:
            out.append((start, end, top.state))
    return out


class Roots(HTMLParser):
    """Counts the top-level elements of a fragment, and keeps the first one's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.roots: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        if self.depth == 0:
            self.roots.append((tag, dict(attrs)))
        self.depth += 1

    def handle_endtag(self, tag):
        self.depth -= 1


def roots_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Roots()
    parser.feed(html)
    parser.close()
    assert parser.depth == 0, "unbalanced fragment"
    return parser.roots


# ----------------------------------------------------------------------------------------
# Access
# ----------------------------------------------------------------------------------------


def test_the_station_pages_need_a_login(client, filled):
    station = Station.objects.first()
    assert station is not None
    for url in ("/stations/", f"/stations/{station.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"


def test_an_unknown_station_is_not_found(viewer):
    assert viewer.get("/stations/99999/").status_code == 404


# ----------------------------------------------------------------------------------------
# The overview
# ----------------------------------------------------------------------------------------


def row_ids(body: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="station-row[^"]*"\s+id="row-(\d+)"', body)]


def test_the_overview_lists_every_station_breakdowns_before_production(viewer, site):
    broken, producing = site.writable()[:2]
    site.set_state(broken, BREAKDOWN, "spindle noise")
    site.set_state(producing, PRODUCTION)
    site.sync("live")

    response = viewer.get("/stations/")
    body = response.content.decode()

    assert response.status_code == 200
    ids = row_ids(body)
    assert sorted(ids) == sorted(Station.objects.values_list("pk", flat=True))
    broken_pk = Station.objects.get(cwork_id=broken).pk
    producing_pk = Station.objects.get(cwork_id=producing).pk
    assert ids.index(broken_pk) < ids.index(producing_pk)
    assert ids[0] == broken_pk or present(LiveStatus.objects.get(station_id=ids[0]).state).name in {
        "Breakdown",
        "Spindle failure",
        "Tool breakage",
    }
    # Severities never go back up the list.
    order = [s.name.lower() for s in Severity]
    severities = re.findall(r'class="station-row[^"]*"\s+id="row-\d+" data-severity="(\w+)"', body)
    assert len(severities) == len(ids)
    ranks = [order.index(s) for s in severities]
    assert ranks == sorted(ranks)
    # Each row links to its station page, in its state's colour, with a ticking time.
    live = LiveStatus.objects.select_related("state").get(station__cwork_id=broken)
    assert f'href="/stations/{broken_pk}/"' in body
    assert f"--state: {present(live.state).color}" in body
    assert f'data-since="{present(live.since).isoformat()}"' in body


def test_severity_follows_the_state_oee_category(filled):
    rows = station_overview("", timezone.now())
    failures = {"Breakdown", "Spindle failure", "Tool breakage"}
    by_severity = {
        Severity.BREAKDOWN: failures,
        Severity.STOPPED: {"Waiting", "No material", "No operator"},
        Severity.SETUP: {"Setting", "Tool change", "Rework (old)"},
        Severity.PRODUCTION: {"Production"},
        Severity.OFF: {"Disengagement", "Break", "Preventive maintenance"},
    }
    assert rows
    for row in rows:
        if row.station.disabled:
            assert row.severity is Severity.OFF
        else:
            assert row.tile.state_name in by_severity[row.severity], row


def test_a_station_in_breakdown_comes_first_longest_first(sim, cwork, clock, filled):
    first, second = [h for h in range(1, 13) if sim.world.station(h).mdc_mode][:2]
    sim.world.change_state(second, BREAKDOWN, "oil leak")
    clock.advance(60)
    sim.world.change_state(first, BREAKDOWN, "no coolant")
    sync("live", cwork, clock)

    rows = station_overview("", clock())

    assert [r.station.cwork_id for r in rows[:2]] == [second, first]
    assert {r.severity for r in rows[:2]} == {Severity.BREAKDOWN}
    assert [r.in_state_for for r in rows[:2]] == ["1 min 00 s", "0 min 00 s"]


def test_a_station_not_reporting_is_flagged(sim, cwork, clock, filled, viewer):
    handle = writable_station(sim)
    LiveStatus.objects.filter(station__cwork_id=handle).update(missing_since=clock())

    (row,) = [r for r in station_overview("", clock()) if r.station.cwork_id == handle]

    assert not row.tile.reporting
    body = viewer.get("/stations/").content.decode()
    pk = row.station.pk
    item = body[body.index(f'id="row-{pk}"') :]
    item = item[: item.index("</li>")]
    assert "not reporting since" in item


def test_the_search_looks_through_names_places_groups_orders_jobs_and_programs(filled):
    now = timezone.now()
    everyone = station_overview("", now)
    lives = {r.station.pk: r.live for r in everyone}
    some = next(r for r in everyone if r.live and r.live.running_program and r.live.order)
    station, live = some.station, some.live
    assert live is not None

    def found(query):
        return {r.station.pk for r in station_overview(query, now)}

    def expected(test):
        return {r.station.pk for r in everyone if test(r.station, lives[r.station.pk])}

    assert found(station.name) == {station.pk}
    assert found(station.name.lower()) == {station.pk}
    assert found(station.workshop.upper()) == expected(lambda s, _: s.workshop == station.workshop)
    assert found(station.dnc_group) == expected(lambda s, _: s.dnc_group == station.dnc_group)
    group = station.mdc_groups[0]
    assert found(group) == expected(lambda s, _: group in s.mdc_groups)
    assert found(live.order) == expected(lambda _, lv: lv and live.order in lv.order)
    assert station.pk in found(f"{live.order} {live.job}")
    assert found(live.running_program) == expected(
        lambda _, lv: (
            lv and live.running_program in (lv.running_program + " " + lv.selected_program)
        )
    )
    # Every word must match, in any field: a workshop and a group narrow each other.
    both = found(f"{station.workshop} {group}")
    assert both == expected(lambda s, _: s.workshop == station.workshop and group in s.mdc_groups)
    # Short words are whole words: "03" finds "LB3000-03", not "C138568-304".
    head, _, number = station.name.rpartition("-")
    assert station.pk in found(f"{head.split()[0].upper()} {number}")
    assert all(
        number in re.findall(r"\w+", r.station.name)
        for r in station_overview(f"{head.split()[0]} {number}", now)
    )
    assert found("no such station anywhere") == set()
    assert found("   ") == {r.station.pk for r in everyone}


def test_the_search_ignores_case_and_accents(filled):
    station = Station.objects.order_by("pk").first()
    assert station is not None
    Station.objects.filter(pk=station.pk).update(workshop="Atelier Côté Usinage")

    found = station_overview("cote usinage", timezone.now())

    assert [r.station.pk for r in found] == [station.pk]
    assert [r.station.pk for r in station_overview("CÔTÉ", timezone.now())] == [station.pk]


def test_the_search_page_works_with_and_without_htmx(viewer, site):
    station = Station.objects.order_by("name").first()
    assert station is not None
    others = set(Station.objects.exclude(workshop=station.workshop).values_list("pk", flat=True))

    page = viewer.get("/stations/", {"q": station.workshop})
    body = page.content.decode()
    assert page.status_code == 200
    assert "<html" in body
    assert '<form class="search" method="get" action="/stations/" role="search">' in body
    assert 'hx-trigger="input changed delay:300ms, search"' in body
    assert 'hx-target="#station-rows"' in body
    assert f'value="{station.workshop}"' in body
    assert station.pk in row_ids(body)
    assert not others & set(row_ids(body))

    fragment = viewer.get("/stations/", {"q": station.name}, headers={"HX-Request": "true"})
    part = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in part
    assert "<form" not in part
    assert row_ids(part) == [station.pk]
    assert "HX-Request" in fragment["Vary"]

    # Going back in history asks for the whole page, even from HTMX.
    restore = viewer.get(
        "/stations/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.content.decode()


def test_a_search_that_matches_nothing_says_so(viewer, site):
    body = viewer.get("/stations/", {"q": "zzz-nothing"}).content.decode()
    assert row_ids(body) == []
    assert "No station matches this search." in body
    assert "0 stations match “zzz-nothing”" in body


def test_the_header_links_to_the_overview_for_logged_in_users(viewer, client, site):
    station = Station.objects.first()
    assert station is not None
    assert 'href="/stations/"' in viewer.get(f"/stations/{station.pk}/").content.decode()
    viewer.logout()
    assert "/stations/" not in client.get("/login/").content.decode()


# ----------------------------------------------------------------------------------------
# One station: the live part
# ----------------------------------------------------------------------------------------


def test_the_station_page_shows_the_live_status(viewer, site):
    handle = site.change_some_station(BREAKDOWN, "hydraulic pressure low")
    site.sync("live")
    station = Station.objects.get(cwork_id=handle)
    live = LiveStatus.objects.select_related("state").get(station=station)
    assert live.state is not None
    assert live.since is not None

    response = viewer.get(f"/stations/{station.pk}/")
    body = response.content.decode()

    assert response.status_code == 200
    assert f'<div hx-ext="ws" ws-connect="/ws/stations/{station.pk}/">' in body
    assert body.count('id="station-live"') == 1
    live_part = body[body.index('<section id="station-live"') :]
    live_part = live_part[: live_part.index("</section>")]
    assert "hx-swap-oob" not in live_part
    assert station.name in live_part
    assert "Breakdown" in live_part
    assert "hydraulic pressure low" in live_part
    assert f"--state: {live.state.color}; --on-state: {readable_text_color(live.state.color)}" in (
        live_part
    )
    since = live.since.isoformat()
    assert f'<time class="ticking" datetime="{since}" data-since="{since}">' in live_part
    local = timezone.localtime(live.since).strftime("%H:%M")
    assert f"since {local}" in live_part
    # The page polls its day part; the socket keeps the live part current.
    assert f'hx-get="/stations/{station.pk}/" hx-trigger="every 30s"' in body
    assert "stations/stations.css" in body
    assert "hx-ws-2" in body


def test_the_live_fragment_stands_alone_with_one_root(sim, cwork, clock, filled):
    station = Station.objects.select_related("live", "live__state").get(
        cwork_id=writable_station(sim)
    )
    tile = station_detail(station, clock()).tile

    pushed = render_to_string(
        "stations/_station_live.html", {"tile": tile, "oob": True, "now": clock()}
    )
    plain = render_to_string("stations/_station_live.html", {"tile": tile, "now": clock()})

    ((tag, attrs),) = roots_of(pushed)
    assert tag == "section"
    assert attrs["id"] == "station-live"
    assert attrs["hx-swap-oob"] == "true"
    assert pushed.lstrip().startswith('<section id="station-live"')
    ((tag, attrs),) = roots_of(plain)
    assert "hx-swap-oob" not in attrs
    assert tile.state_name in pushed
    assert tile.live is not None
    assert tile.live.since is not None
    assert f'data-since="{tile.live.since.isoformat()}"' in pushed


def test_the_live_fragment_shows_parts_against_target_and_active_alarms(sim, cwork, clock):
    sync("catalogue", cwork, clock)
    for _ in range(600):  # until a station raises an alarm (minutes of factory time)
        sync("live", cwork, clock)
        alarmed = LiveStatus.objects.exclude(alarms=[]).first()
        if alarmed:
            break
        clock.advance(30)
    assert alarmed, "no alarm in ten hours of the simulated factory"
    station = Station.objects.select_related("live", "live__state").get(pk=alarmed.station_id)
    tile = station_detail(station, clock()).tile

    html = render_to_string("stations/_station_live.html", {"tile": tile, "now": clock()})

    code, message, start = alarmed.alarms[0]
    assert code in html
    assert message in html
    assert f'data-since="{start}"' in html
    if tile.pace:
        assert f"{tile.pace.made} / {tile.pace.target}" in html


def test_the_tile_and_the_station_page_draw_the_same_parts_and_pace(sim, cwork, clock):
    """One drawing of parts against the target (stations/_pace.html): the same count,
    "behind", the pace marker live.js moves, and what a screen reader hears, on both."""
    sync("catalogue", cwork, clock)
    sync("live", cwork, clock)
    station = Station.objects.select_related("live", "live__state").first()
    assert station is not None
    tile = dataclasses.replace(
        station_detail(station, clock()).tile, pace=Pace(made=30, target=100, expected=40)
    )
    pages = {
        "wall tile": render_to_string("wall/_tile.html", {"tile": tile}),
        "station page": render_to_string(
            "stations/_station_live.html", {"tile": tile, "now": clock()}
        ),
    }
    for where, html in pages.items():
        assert "30 / 100" in html, where
        assert ">behind<" in html, where
        assert 'aria-label="30 of 100 parts, 40 expected by now"' in html, where
        assert re.search(r'class="[^"]*\btile-pace"[^>]*\n?[^>]*left: 40\.0%', html), where
        assert 'data-target="100"' in html, where


# ----------------------------------------------------------------------------------------
# One station: today's timeline
# ----------------------------------------------------------------------------------------


def test_the_timeline_is_the_days_tops_contiguous_up_to_now(sim, clock, filled):
    now = clock()
    day_start, day_end = day_bounds(now)
    assert day_start == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # midnight in Paris
    assert day_end == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    colors = {s.cwork_id: s for s in State.objects.all()}
    checked = 0
    for station in Station.objects.filter(disabled=False):
        detail = station_detail(station, now)
        segments = detail.timeline
        expected = expected_segments(sim, station.cwork_id, day_start, now)
        assert [(s.start, s.end) for s in segments] == [(e[0], e[1]) for e in expected]
        for segment, (_, _, state) in zip(segments, expected, strict=True):
            assert segment.known
            assert segment.label == colors[state].name
            assert segment.color == colors[state].color
            assert segment.text_color == readable_text_color(colors[state].color)
        for before, after in itertools.pairwise(segments):
            assert before.end == after.start
            assert before.x + before.width == pytest.approx(after.x, abs=1e-9)
        first = Top.objects.filter(station=station).order_by("start").first()
        assert first is not None
        assert segments[0].start == max(day_start, first.start)
        assert segments[-1].end == now
        assert segments[-1].ongoing
        assert segments[-1].label == present(station.live.state).name
        assert sum(s.width for s in segments) == pytest.approx(
            100 * (now - segments[0].start) / (day_end - day_start)
        )
        assert detail.now_percent == pytest.approx(100 * 10 / 24)  # 10:00 in Paris
        assert sum((t.duration for t in detail.totals), timedelta()) == now - segments[0].start
        checked += 1
    assert checked >= 10


def test_a_change_the_history_has_not_seen_yet_is_drawn_from_the_live_status(
    sim, cwork, clock, filled
):
    handle = writable_station(sim)
    new_state = other_state(sim, handle)
    clock.advance(120)
    sim.world.change_state(handle, new_state, "waiting for the crane")
    changed_at = clock()
    clock.advance(45)
    sync("live", cwork, clock)  # the history sync has not run since
    station = Station.objects.get(cwork_id=handle)
    assert not Top.objects.filter(station=station, start=changed_at).exists()

    segments = station_detail(station, clock()).timeline

    last = segments[-1]
    assert (last.start, last.end) == (changed_at, clock())
    assert last.label == State.objects.get(cwork_id=new_state).name
    assert last.comment == "waiting for the crane"
    assert last.ongoing
    assert segments[-2].end == changed_at
    assert all(s.known for s in segments)

    sync("history", cwork, clock)  # and once it has, the same day
    again = station_detail(station, clock()).timeline
    assert [(s.start, s.end, s.label) for s in again] == [
        (s.start, s.end, s.label) for s in segments
    ]


def test_a_stretch_without_any_record_is_shown_as_no_data(sim, cwork, clock, filled):
    station = Station.objects.get(cwork_id=writable_station(sim))
    now = clock()
    day_start, _ = day_bounds(now)
    tops = list(Top.objects.filter(station=station, end__gt=day_start).order_by("start"))
    hole = tops[len(tops) // 2]
    hole.delete()

    segments = station_detail(station, now).timeline

    (gap,) = [s for s in segments if not s.known]
    assert (gap.start, gap.end) == (max(hole.start, day_start), hole.end)
    assert gap.label == "No data"
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start


def test_the_day_starts_at_midnight_in_the_plants_time_zone(settings):
    clock = ManualClock(datetime(2026, 11, 24, 23, 30, tzinfo=UTC))  # 00:30 in Paris
    sim = Simulator(stations=12, seed=7, clock=clock, history_days=2)
    with sim.client(retries=0) as cwork:
        sync_all(cwork, clock)
    station = Station.objects.get(cwork_id=writable_station(sim))

    settings.TIME_ZONE = "Europe/Paris"
    paris = station_detail(station, clock())
    assert paris.day_start == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert paris.timeline[0].start == paris.day_start
    assert paris.timeline[-1].end == clock()
    assert sum((s.duration for s in paris.timeline), timedelta()) == timedelta(minutes=30)
    assert paris.ticks[0].at == paris.day_start

    settings.TIME_ZONE = "UTC"
    utc = station_detail(station, clock())
    assert utc.day_start == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert sum((s.duration for s in utc.timeline), timedelta()) == timedelta(hours=23, minutes=30)
    assert [(s.start, s.end) for s in paris.timeline] == [
        (max(s.start, paris.day_start), s.end) for s in utc.timeline if s.end > paris.day_start
    ]


def test_a_day_when_the_clocks_go_back_has_25_hours(settings):
    settings.TIME_ZONE = "Europe/Paris"
    now = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    start, end = day_bounds(now)
    assert (start, end) == (
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
    )
    ticks = axis_ticks(start, end, 100.0)  # the station day's axis, in percent
    assert len(ticks) == 25
    assert [t.at.astimezone(PARIS).hour for t in ticks[:5]] == [0, 1, 2, 2, 3]
    assert ticks[1].percent == pytest.approx(4.0)  # 1 hour of 25


def test_the_page_draws_the_timeline_in_state_colours_and_lists_it(viewer, site):
    station = Station.objects.get(cwork_id=site.writable()[0])
    body = viewer.get(f"/stations/{station.pk}/").content.decode()
    detail = station_detail(station, timezone.now())

    segments = re.findall(
        r'<span class="seg[^"]*"\s+style="left: ([\d.]+)%; width: ([\d.]+)%; '
        r'--seg: (#[0-9A-Fa-f]{6}); --on-seg: (#[0-9a-f]{6})"\s+role="img" data-state="([^"]*)"',
        body,
    )
    assert len(segments) == len(detail.timeline)
    for (left, width, color, on, name), segment in zip(segments, detail.timeline, strict=True):
        assert (color, on, name) == (segment.color, segment.text_color, segment.label)
        assert float(left) == pytest.approx(segment.x, abs=1e-3)
        assert float(width) == pytest.approx(segment.width, abs=0.05)
    zone = timezone.get_current_timezone()
    first = detail.timeline[0]
    label = (
        f"{first.label}, {first.start.astimezone(zone):%H:%M} to "
        f"{first.end.astimezone(zone):%H:%M} ({first.duration_text})"
    )
    assert f'aria-label="{label}"' in body
    assert '<ol class="log">' in body  # the same day as a list, for screen readers
    assert len(re.findall(r'class="tick[ "]', body)) == len(detail.ticks)


# ----------------------------------------------------------------------------------------
# One station: alarms, programs, order
# ----------------------------------------------------------------------------------------


def test_alarms_active_and_cleared_today_newest_first(sim, cwork, clock):
    sync("catalogue", cwork, clock)
    sync("history", cwork, clock)
    for _ in range(600):
        sync("live", cwork, clock)
        alarmed = LiveStatus.objects.exclude(alarms=[]).first()
        if alarmed:
            break
        clock.advance(30)
    assert alarmed
    sync("history", cwork, clock)
    now = clock()
    day_start, _ = day_bounds(now)
    station = Station.objects.get(pk=alarmed.station_id)

    detail = station_detail(station, now)

    assert [(a.code, a.message) for a in detail.active_alarms] == [
        (code, message) for code, message, _ in alarmed.alarms
    ]
    for alarm in detail.active_alarms:
        assert alarm.active
        assert alarm.duration == now - alarm.start
    cleared = [
        a
        for a in sim.world.alarms(station.cwork_id, day_start, now)
        if a.end is not None and a.end > day_start
    ]
    assert [(a.code, a.start, a.end) for a in detail.past_alarms] == sorted(
        ((a.code, a.start, a.end) for a in cleared), key=lambda a: a[1], reverse=True
    )
    assert detail.past_alarm_count == len(cleared)
    for alarm in detail.past_alarms:
        assert alarm.start is not None
        assert alarm.end is not None
        assert alarm.duration == alarm.end - alarm.start

    html = render_to_string(
        "stations/_station_day.html", {"day": detail, "station": station, "now": now}
    )
    assert "Active" in html
    for alarm in detail.active_alarms + detail.past_alarms:
        assert alarm.code in html
        assert alarm.duration_text in html


def test_a_day_with_cleared_alarms_lists_them(sim, cwork, clock, filled):
    now = clock()
    day_start, _ = day_bounds(now)
    with_alarms = [s for s in Station.objects.all() if sim.world.alarms(s.cwork_id, day_start, now)]
    assert with_alarms
    for station in with_alarms:
        detail = station_detail(station, now)
        stored = AlarmInterval.objects.filter(
            station=station, end__isnull=False, end__gt=day_start
        ).count()
        assert detail.past_alarm_count == stored
        starts = [present(a.start) for a in detail.past_alarms]
        assert starts == sorted(starts, reverse=True)


def test_the_programs_of_the_day_newest_first(sim, clock, filled):
    now = clock()
    day_start, _ = day_bounds(now)
    checked = 0
    for station in Station.objects.filter(disabled=False).select_related("live"):
        detail = station_detail(station, now)
        expected = [
            (r.name, r.context, r.start, r.end)
            for r in sim.world.running_programs(station.cwork_id, day_start, now)
        ]
        assert [(r.name, r.context, r.start, r.end) for r in detail.running_programs] == sorted(
            expected, key=lambda r: r[2], reverse=True
        )
        selected = sim.world.selected_programs(station.cwork_id, day_start, now)
        assert {(r.name, r.start) for r in detail.selected_programs} == {
            (r.name, r.start) for r in selected
        }
        if detail.running_programs and detail.running_programs[0].active:
            assert detail.running_programs[0].name == station.live.running_program
            assert detail.running_programs[0].duration == now - detail.running_programs[0].start
            checked += 1
    assert checked >= 5


def test_the_current_order_and_its_operations_here_with_progress(clock, filled):
    now = clock()
    checked = 0
    for live in LiveStatus.objects.exclude(order="").select_related("station"):
        detail = station_detail(live.station, now)
        current = detail.order
        assert current is not None
        assert current.name == live.order
        assert current.order is not None
        assert current.order.name == live.order
        ops = Operation.objects.filter(order=current.order, station=live.station)
        assert {p.operation.pk for p in current.operations} == set(ops.values_list("pk", flat=True))
        (now_running,) = [p for p in current.operations if p.current]
        assert now_running.operation.name == live.job
        op = now_running.operation
        assert (now_running.made, now_running.to_make) == (op.parts_made, op.parts_to_make)
        assert now_running.percent == pytest.approx(
            min(100, 100 * present(op.parts_made) / present(op.parts_to_make))
        )
        html = render_to_string(
            "stations/_station_day.html", {"day": detail, "station": live.station, "now": now}
        )
        assert f"{op.parts_made} / {op.parts_to_make} parts" in html
        assert f'aria-valuenow="{op.parts_made}"' in html
        checked += 1
    assert checked >= 8


def test_the_station_page_lists_its_day(viewer, site):
    station = Station.objects.select_related("live").get(cwork_id=site.writable()[0])
    body = viewer.get(f"/stations/{station.pk}/").content.decode()
    detail = station_detail(station, timezone.now())

    assert "Alarms today" in body
    assert "Programs today" in body
    for run in detail.running_programs:
        assert run.name in body
    if detail.order:
        assert detail.order.name in body


def test_htmx_refreshes_the_day_with_the_live_part_out_of_band(viewer, site):
    station = Station.objects.first()
    assert station is not None
    response = viewer.get(f"/stations/{station.pk}/", headers={"HX-Request": "true"})
    body = response.content.decode()

    assert "<html" not in body
    assert 'class="timeline-bar"' in body or "No state recorded today yet." in body
    live_roots = [attrs for tag, attrs in roots_of(body) if attrs.get("id") == "station-live"]
    assert live_roots == [
        {
            "id": "station-live",
            "class": live_roots[0]["class"],
            "style": live_roots[0]["style"],
            "aria-labelledby": "station-live-name",
            "hx-swap-oob": "true",
        }
    ]


def test_the_pages_show_times_in_the_plant_time_zone(viewer, site, settings):
    settings.TIME_ZONE = "America/New_York"
    handle = site.writable()[0]
    site.set_state(handle, BREAKDOWN, "")
    site.sync("live", "history")
    station = Station.objects.get(cwork_id=handle)
    since = LiveStatus.objects.get(station=station).since
    assert since is not None

    body = viewer.get(f"/stations/{station.pk}/").content.decode()

    local = since.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")
    assert f"since {local}" in body
    detail = station_detail(station, timezone.now())
    assert detail.day_start.astimezone(ZoneInfo("America/New_York")).hour == 0
