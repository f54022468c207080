"""Colour is never the only signal: each tile carries its state's bucket as an icon with a
name screen readers say, from a mapping read once per process, not once per tile."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.utils.translation import override, pgettext

from cwork.oee import Bucket
from dashboard.tiles import tile_for, tile_stations
from kpis import mapping
from kpis.models import StateBucket
from stations.models import LiveStatus, State, Station

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PRODUCTION, BREAKDOWN, SETTING, WAITING, DISENGAGEMENT, SPINDLE, ODD = 0, 1, 2, 3, 4, 5, 40


@pytest.fixture
def states() -> dict[int, State]:
    def make(cwork_id, name, color, category, parent=None):
        return State.objects.create(
            cwork_id=cwork_id,
            name=name,
            color=color,
            oee_category=category,
            parent=parent,
            synced_at=NOW,
        )

    made = {
        PRODUCTION: make(PRODUCTION, "Production", "#008000", 4),
        BREAKDOWN: make(BREAKDOWN, "Breakdown", "#FF0000", 2),
        SETTING: make(SETTING, "Setting", "#0000FF", 2),
        WAITING: make(WAITING, "Waiting", "#FFFF00", 3),
        DISENGAGEMENT: make(DISENGAGEMENT, "Disengagement", "#808080", 1),
        ODD: make(ODD, "Odd one", "#123456", None),  # no OEE category
    }
    made[SPINDLE] = make(SPINDLE, "Spindle failure", "#B22222", 2, parent=made[BREAKDOWN])
    return made


def station_in(cwork_id: int, state: State | None, *, live: bool = True, **live_fields) -> Station:
    station = Station.objects.create(cwork_id=cwork_id, name=f"M{cwork_id}", synced_at=NOW)
    if live:
        LiveStatus.objects.create(
            station=station,
            state=state,
            state_cwork_id=state.cwork_id if state else None,
            since=NOW,
            changed_at=NOW,
            **live_fields,
        )
    return tile_stations().get(pk=station.pk)


def tile(station: Station):
    return tile_for(station, stale=False, now=NOW)


@pytest.mark.parametrize(
    ("state_id", "bucket", "label"),
    [
        (PRODUCTION, Bucket.PRODUCTION, "Production"),
        (SPINDLE, Bucket.FAILURE, "Breakdown"),  # a child of Breakdown
        (BREAKDOWN, Bucket.FAILURE, "Breakdown"),
        (SETTING, Bucket.OWN_STOP, "Own stop"),
        (WAITING, Bucket.INDUCED_STOP, "Induced stop"),
        (DISENGAGEMENT, Bucket.DISENGAGED, "Disengaged"),
        (ODD, Bucket.OWN_STOP, "Own stop"),  # unknown category: an own stop, as the KPIs say
    ],
)
def test_a_tile_carries_its_states_bucket(states, state_id, bucket, label):
    t = tile(station_in(1, states[state_id]))
    assert t.bucket == bucket
    assert t.mark == bucket.value
    assert str(t.mark_label) == label


def test_a_tile_without_state_or_news_has_its_own_mark(states):
    no_state = tile(station_in(1, None))
    assert (no_state.bucket, no_state.mark, str(no_state.mark_label)) == (None, "none", "No state")
    never = tile(station_in(2, None, live=False))
    assert (never.mark, str(never.mark_label)) == ("none", "Not reporting")
    gone = tile(station_in(3, states[PRODUCTION], missing_since=NOW))
    assert (gone.bucket, gone.mark, str(gone.mark_label)) == (
        Bucket.PRODUCTION,
        "none",
        "Not reporting",
    )
    # A stale wall keeps the last known bucket: the banner says the data is old.
    stale = tile_for(station_in(4, states[WAITING]), stale=True, now=NOW)
    assert (stale.reporting, stale.mark) == (False, "induced_stop")


def test_the_shops_mapping_overrides_the_default_at_once(states):
    station = station_in(1, states[WAITING])
    assert tile(station).mark == "induced_stop"
    StateBucket.objects.create(state_cwork_id=WAITING, bucket=Bucket.DISENGAGED)
    assert tile(station).mark == "disengaged"
    StateBucket.objects.filter(state_cwork_id=WAITING).delete()  # a queryset: no signal
    mapping.forget_state_buckets()  # ... the admin deletes one by one; or the TTL runs out
    assert tile(station).mark == "induced_stop"


def test_tiles_share_one_reading_of_the_mapping(states, django_assert_num_queries):
    for n in range(30):
        station_in(100 + n, states[(PRODUCTION, SPINDLE, WAITING)[n % 3]])
    stations = list(tile_stations())
    mapping.forget_state_buckets()
    with django_assert_num_queries(2):  # the states and the shop's mapping, once
        marks = [tile(s).mark for s in stations]
    assert marks[:3] == ["production", "failure", "induced_stop"]
    with django_assert_num_queries(0):
        [tile(s) for s in stations]


def test_a_bulk_written_state_is_seen_after_the_cache_expires(states, monkeypatch):
    station = station_in(1, states[SETTING])
    assert tile(station).mark == "own_stop"
    # The catalogue sync writes in bulk (no signal): the copy lasts its CACHE_SECONDS.
    State.objects.filter(cwork_id=SETTING).update(oee_category=3)
    assert tile(station).mark == "own_stop"
    monkeypatch.setattr(mapping, "CACHE_SECONDS", 0.0)
    assert tile(station).mark == "induced_stop"


def test_a_state_the_copy_does_not_know_reloads_it(states, monkeypatch):
    mapping.cached_state_buckets()
    monkeypatch.setattr(mapping, "MISS_RELOAD_SECONDS", 0.0)
    new = State.objects.bulk_create(
        [State(cwork_id=77, name="New", color="#00FF00", oee_category=4, synced_at=NOW)]
    )[0]
    assert tile(station_in(1, State.objects.get(pk=new.pk))).mark == "production"


def render_tile(station: Station) -> str:
    return render_to_string("wall/_tile.html", {"tile": tile(station)})


def test_the_wall_tile_shows_the_mark_with_its_name(states):
    body = render_tile(station_in(1, states[SPINDLE]))
    assert 'class="mark mark-failure" role="img" aria-label="Breakdown"' in body
    # Beside the state's name, in the tile's text colour (marks.css draws currentColor).
    assert '<p class="tile-state"><span class="mark mark-failure"' in body
    assert "Spindle failure</p>" in body
    body = render_tile(station_in(2, None, live=False))
    assert 'class="mark mark-none" role="img" aria-label="Not reporting"' in body


FRENCH = {
    "Production": "Production",
    "Breakdown": "Panne",
    "Own stop": "Arrêt propre",
    "Induced stop": "Arrêt induit",
    "Disengaged": "Hors temps requis",
    "No state": "Aucun état",
    "Not reporting": "Sans nouvelles",
}


def french(label: str) -> str:
    """The French name the catalogue gives a mark (the same words as the KPI pages)."""
    with override("fr"):
        return pgettext("OEE category", label)


@pytest.mark.parametrize(
    ("state_id", "label"),
    [(PRODUCTION, "Production"), (SPINDLE, "Breakdown"), (SETTING, "Own stop"),
     (WAITING, "Induced stop"), (DISENGAGEMENT, "Disengaged")],
)  # fmt: skip
def test_the_marks_name_is_french_on_a_french_wall(states, state_id, label):
    station = station_in(1, states[state_id])
    with override("fr"):
        body = render_tile(station)
    assert f'aria-label="{french(label)}"' in body
    assert french(label) == FRENCH[label]


def test_the_station_page_marks_its_state_and_todays_stretches(states, client):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from stations.models import Top

    now = timezone.now().replace(microsecond=0)
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0)
    third = min(now - midnight, timedelta(hours=3)) / 3
    if third < timedelta(seconds=20):
        pytest.skip("too close to midnight for three stretches today")
    start = now - 3 * third
    station = station_in(1, states[SPINDLE])
    LiveStatus.objects.filter(pk=station.pk).update(since=start + 2 * third)
    Top.objects.create(station=station, start=start, end=start + third,
                       state=states[PRODUCTION], state_cwork_id=PRODUCTION)  # fmt: skip
    Top.objects.create(station=station, start=start + third, end=None,
                       state=states[WAITING], state_cwork_id=WAITING)  # fmt: skip
    client.force_login(get_user_model().objects.create_user("viewer", password="x" * 12))
    body = client.get(f"/stations/{station.pk}/").content.decode()
    live = body[body.index('id="station-live"') : body.index("</section>")]
    assert 'class="mark mark-failure" role="img" aria-label="Breakdown"' in live
    segments = re.findall(r"<span class=\"seg pat-(\w+)[^\"]*\"[^>]*?data-state=\"([^\"]*)\"", body)
    assert segments[:3] == [("production", "Production"), ("induced_stop", "Waiting"),
                            ("failure", "Spindle failure")]  # fmt: skip
    assert re.search(r'data-state="Waiting" data-mark="induced_stop"', body)
    assert 'aria-description="Induced stop"' in body
    # The totals and the list of the day name the bucket too.
    totals = body[body.index('class="totals"') :]
    assert 'class="mark mark-induced_stop" role="img" aria-label="Induced stop"' in totals
    assert 'class="swatch pat-failure"' in totals


def test_the_overview_marks_each_stations_state(states, client):
    from django.contrib.auth import get_user_model

    station_in(1, states[SPINDLE])
    station_in(2, None, live=False)
    client.force_login(get_user_model().objects.create_user("viewer", password="x" * 12))
    body = client.get("/stations/").content.decode()
    pills = re.findall(r'<span class="pill">(.*?)</span>\s', body, re.S)
    assert any('class="mark mark-failure" role="img" aria-label="Breakdown"' in p for p in pills)
    assert any('class="mark mark-none" role="img" aria-label="Not reporting"' in p for p in pills)


@pytest.mark.parametrize(
    ("state_id", "bucket", "severity", "label"),
    [
        (WAITING, Bucket.FAILURE, "breakdown", "Breakdown"),  # by default an induced stop
        (SPINDLE, Bucket.DISENGAGED, "off", "Disengaged"),  # by default a failure
    ],
)
def test_under_the_shops_mapping_the_overview_and_the_station_page_agree_with_the_tile(
    states, client, state_id, bucket, severity, label
):
    """One rule (``kpis.mapping``): a shop that counts a state apart from its OEE category
    sees it so on the tile, in the overview's groups and on the station page alike."""
    from django.contrib.auth import get_user_model

    from dashboard.overview import Severity

    station = station_in(1, states[state_id])
    control = station_in(2, states[SETTING])
    StateBucket.objects.create(state_cwork_id=state_id, bucket=bucket)
    mark = f'class="mark mark-{bucket.value}" role="img" aria-label="{label}"'
    assert mark in render_tile(station)
    client.force_login(get_user_model().objects.create_user("viewer", password="x" * 12))

    wall = client.get("/wall/").content.decode()
    tile_html = wall[wall.index(f'id="tile-{station.pk}"') :]
    assert mark in tile_html[: tile_html.index("</li>")]

    overview = client.get("/stations/").content.decode()
    row = overview[overview.index(f'id="row-{station.pk}"') :]
    assert row.startswith(f'id="row-{station.pk}" data-severity="{severity}"')
    assert mark in row[: row.index("</li>")]
    heads = re.findall(r'<li class="group-head" data-severity="(\w+)">', overview[: -len(row)])
    assert heads[-1] == severity  # listed under its bucket's group, not its OEE category's
    assert f'id="row-{control.pk}" data-severity="setup"' in overview

    page = client.get(f"/stations/{station.pk}/")
    assert page.context["day"].severity is Severity[severity.upper()]
    body = page.content.decode()
    live = body[body.index('id="station-live"') : body.index("</section>")]
    assert mark in live
