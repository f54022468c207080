"""The shift review page: who may see it, what it shows, how it refuses bad input, and that
its queries do not grow with the number of stations.

The factory is the simulator, synced through the real ingest at the fixed test instant; the
page is asked for at that same instant.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile
from cwork import oee
from kpis import views
from kpis.calendar import Calendars, previous_shift
from kpis.demo import create_simulator_calendars
from kpis.engine import differences, station_kpis
from kpis.figures import sync_cwork_figures
from kpis.models import PartTally
from kpis.review import cells_of, pct
from stations.catalogue import sync_catalogue
from stations.history import sync_history
from stations.live import poll_live
from stations.models import Operation, Station
from stations.orders import sync_orders

pytestmark = pytest.mark.django_db


def fill(cwork, clock) -> None:
    """The factory synced at the test instant, with the simulator's calendars."""
    now = clock()
    sync_catalogue(cwork, now=now)
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)) - {""})
    create_simulator_calendars(workshops)
    sync_history(cwork, now=now, batch=100)
    poll_live(cwork, now=now)
    # Part counting starts at the first poll: a second one half an hour later has parts.
    clock.advance(1800)
    poll_live(cwork, now=clock())
    sync_history(cwork, now=clock(), batch=100)
    sync_orders(cwork, now=clock())
    sync_cwork_figures(cwork, now=clock())


@pytest.fixture
def filled(cwork, clock, monkeypatch):
    fill(cwork, clock)
    monkeypatch.setattr(views, "_now", clock)


def user_in(role: str, name: str | None = None, **profile):
    user = get_user_model().objects.create_user(name or role.lower(), password="x" * 12)
    user.groups.add(Group.objects.get(name=role))
    if profile:
        Profile.objects.create(user=user, **profile)
    return user


@pytest.fixture
def manager(client):
    client.force_login(user_in("Manager"))
    return client


def the_shift(clock):
    """The previous shift of the first station's calendar (the page's default)."""
    first = Station.objects.order_by("name", "pk").first()
    assert first is not None
    spec = Calendars().for_workshop(first.workshop)
    return previous_shift(spec, clock())


def shift_query(occ) -> dict[str, str]:
    return {"period": "shift", "date": occ.day.isoformat(), "shift": occ.name}


def total_row(body: str) -> str:
    found = re.search(r'<tr class="total-row[^"]*">(.*?)</tr>', body, re.S)
    assert found, "no total row"
    return found.group(1)


def cell(row_html: str, figure: str) -> str:
    found = re.search(rf'data-figure="{figure}"[^>]*>(.*?)</td>', row_html, re.S)
    assert found, f"no {figure} cell"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# ----------------------------------------------------------------------------------------
# Access
# ----------------------------------------------------------------------------------------


def test_the_review_needs_a_login(client):
    response = client.get("/kpis/review/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "url", ["/kpis/review/", "/kpis/review/export.csv", "/kpis/review/export.xlsx"]
)
def test_a_viewer_is_refused(client, url):
    client.force_login(user_in("Viewer"))
    assert client.get(url).status_code == 403


def test_the_nav_link_shows_only_with_the_permission(client, filled):
    client.force_login(user_in("Viewer"))
    assert "/kpis/review/" not in client.get("/stations/").content.decode()
    client.force_login(user_in("Manager"))
    assert "/kpis/review/" in client.get("/stations/").content.decode()


# ----------------------------------------------------------------------------------------
# What the page shows
# ----------------------------------------------------------------------------------------


def test_a_manager_sees_every_station_and_the_total(manager, filled, clock):
    occ = the_shift(clock)
    assert occ is not None
    response = manager.get(
        "/kpis/review/", {"period": "shift", "date": occ.day.isoformat(), "shift": occ.name}
    )
    body = response.content.decode()

    assert response.status_code == 200
    stations = list(Station.objects.order_by("name", "pk"))
    for station in stations:
        assert f">{station.name}</th>" in body
    report = station_kpis(stations, occ.start, occ.end, now=clock())
    total = total_row(body)
    assert cell(total, "oee").startswith(pct(report.total.oee)) or report.total.oee is None
    if report.total.oee is not None:
        assert pct(report.total.oee) in total
    # The default period is that shift, and the headers carry the norm's names.
    assert occ.name in body
    oee = "OEE (TRS) — overall equipment effectiveness: useful time over required time"
    assert f'<abbr title="{oee}">OEE</abbr>' in body
    availability = "DO — operational availability: run time over required time"
    assert f'<abbr title="{availability}">Availability</abbr>' in body
    # The comparison with the previous shift and last week's, and the exports' links.
    assert "Previous shift" in body
    assert "/kpis/review/export.csv?" in body
    assert "/kpis/review/export.xlsx?" in body
    assert "window.print()" in body
    assert "Where figures come from" in body
    # The timeline and the two Paretos.
    assert "data-kpis-timeline" in body
    assert "Stop time by state" in body
    assert "CNC alarms by code" in body


def test_blanks_are_dashes_with_a_reason_never_zero(manager, filled, clock):
    # The day before the factory's history: no parts, no CWork figures.
    day = (clock() - timedelta(days=10)).date().isoformat()
    body = manager.get("/kpis/review/", {"period": "day", "date": day}).content.decode()
    total = total_row(body)
    assert cell(total, "oee") == "—"
    assert re.search(r'data-figure="performance" title="[^"]+">—</td>', body)
    assert "not cross-checked" in body


def test_a_range_that_is_not_a_shift_is_not_cross_checked(manager, filled, clock):
    start = (clock() - timedelta(hours=5, minutes=7)).astimezone(ZoneInfo(settings.TIME_ZONE))
    end = start + timedelta(hours=3)
    response = manager.get(
        "/kpis/review/",
        {"period": "custom", "start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{end:%Y-%m-%dT%H:%M}"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "not cross-checked" in body
    assert "shift boundaries" in body
    assert "Previous period of the same length" in body


def test_a_limited_user_sees_only_their_stations(client, filled, clock):
    inside = Station.objects.order_by("name").first()
    assert inside is not None
    client.force_login(user_in("Manager", "limited", workshops=[inside.workshop]))
    body = client.get("/kpis/review/").content.decode()
    mine = set(Station.objects.filter(workshop=inside.workshop).values_list("name", flat=True))
    others = set(Station.objects.exclude(workshop=inside.workshop).values_list("name", flat=True))
    assert others
    for name in mine:
        assert f">{name}</th>" in body
    for name in others:
        assert f">{name}</th>" not in body
    # Another workshop cannot be asked for.
    other = Station.objects.exclude(workshop=inside.workshop).first()
    assert other is not None
    response = client.get("/kpis/review/", {"scope": f"w:{other.workshop}"})
    assert response.status_code == 200
    assert f">{other.name}</th>" not in response.content.decode()
    assert "Select a valid choice" in response.content.decode()


def test_a_workshop_scope_keeps_its_stations_only(manager, filled):
    station = Station.objects.order_by("name").first()
    assert station is not None
    body = manager.get("/kpis/review/", {"scope": f"w:{station.workshop}"}).content.decode()
    for other in Station.objects.exclude(workshop=station.workshop):
        assert f">{other.name}</th>" not in body
    assert f">{station.name}</th>" in body


def test_by_default_the_review_is_one_workshops_last_shift(manager, filled, clock, monkeypatch):
    occ = the_shift(clock)
    first = Station.objects.order_by("name", "pk").first()
    assert first is not None
    body = manager.get("/kpis/review/").content.decode()
    # One workshop, so the shift means the same for every station in the table.
    for station in Station.objects.all():
        shown = f">{station.name}</th>" in body
        assert shown == (station.workshop == first.workshop), station.name
    assert occ.name in body


def test_parts_against_targets(manager, filled, clock):
    clock.advance(15 * 60)  # the last poll's quarter hour is over
    zone = ZoneInfo(settings.TIME_ZONE)
    start = (clock() - timedelta(hours=1)).astimezone(zone)
    end = (clock() + timedelta(minutes=1)).astimezone(zone)
    response = manager.get(
        "/kpis/review/",
        {"period": "custom", "start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{end:%Y-%m-%dT%H:%M}"},
    )
    body = response.content.decode()
    review = response.context["review"]
    made = sum(PartTally.objects.values_list("parts", flat=True))
    assert made > 0
    assert sum(line.parts for line in review.parts) == pytest.approx(made)
    assert "parts-table" in body
    # Lines whose order and job CWork knows carry the operation's target.
    known = [
        line
        for line in review.parts
        if Operation.objects.filter(order__name=line.order, name=line.job).exists()
    ]
    assert known
    assert all(line.parts_to_make is not None for line in known if line.parts_to_make)
    assert any(line.progress is not None for line in known)


def test_parts_are_cut_pro_rata_at_the_edges(filled, clock):
    from kpis.review import parts_made

    slot = PartTally.objects.order_by("slot").values_list("slot", flat=True).first()
    assert slot is not None
    ids = list(Station.objects.values_list("pk", flat=True))
    whole = sum(parts_made(ids, slot, slot + timedelta(minutes=15)).values())
    half = sum(
        parts_made(ids, slot + timedelta(minutes=7, seconds=30), slot + timedelta(hours=1)).values()
    )
    assert whole > 0
    assert half == pytest.approx(whole / 2)


# ----------------------------------------------------------------------------------------
# Cells: blanks, differences with CWork, performance above 100 %
# ----------------------------------------------------------------------------------------


def kpis_of(**times) -> oee.Kpis:
    base = {"at": 28800, "ot": 28800, "ppt": 27000, "rt": 18000, "nrt": 16200, "fpt": 15390}
    return oee.from_times(**{**base, **times}, ft=600, failures=1)


def test_a_difference_shows_both_figures_and_the_gap(settings):
    settings.KPI_CROSSCHECK_SECONDS = 120
    settings.KPI_CROSSCHECK_POINTS = 2
    ours, theirs = kpis_of(), kpis_of(rt=18600)
    cells = {c.column.key: c for c in cells_of(ours, {}, differences(ours, theirs))}
    assert "differs" in cells["rt"].classes
    assert (cells["rt"].text, cells["rt"].cwork, cells["rt"].delta) == (
        "5 h 00 min",
        "5 h 10 min",
        "-10 min 00 s",
    )
    assert "differs" in cells["availability"].classes
    assert cells["availability"].delta == "-2.2 pts"
    assert "differs" not in cells["ot"].classes
    assert "differs" not in cells["quality"].classes


def test_blanks_and_pessimistic_references():
    blank = kpis_of(nrt=None, fpt=None)
    cells = {c.column.key: c for c in cells_of(blank, {"parts": "parts not counted yet"}, [])}
    assert cells["oee"].text == "—"
    assert cells["oee"].title == "parts not counted yet"
    assert "blank" in cells["performance"].classes
    fast = {c.column.key: c for c in cells_of(kpis_of(nrt=19800, fpt=19000), {}, [])}
    assert fast["performance"].text == "110.0 %"
    assert "over" in fast["performance"].classes
    assert fast["performance"].title == "reference cycle time may be pessimistic"


def test_the_cross_check_legend_names_the_tolerance(manager, filled, settings):
    settings.KPI_CROSSCHECK_SECONDS = 90
    settings.KPI_CROSSCHECK_POINTS = 1.5
    body = manager.get("/kpis/review/").content.decode()
    assert "more than 90 s for a time or 1.5 points for a rate" in body


# ----------------------------------------------------------------------------------------
# Bad input: a page with the error, never a 500
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "day", "date": "2026-13-45"}, "Enter a valid date"),
        ({"period": "shift", "date": "2026-11-20", "shift": "Nope"}, "Select a valid choice"),
        ({"period": "shift", "date": "2026-11-22", "shift": "Morning"}, "No shift"),
        (
            {"period": "custom", "start": "2026-11-20T10:00", "end": "2026-11-20T08:00"},
            "The end must be after the start",
        ),
        (
            {"period": "custom", "start": "2026-01-01T00:00", "end": "2026-06-01T00:00"},
            "at most 92 days",
        ),
        ({"period": "week", "week": "2026-W77"}, "YYYY-Www"),
        ({"period": "month", "month": "november"}, "YYYY-MM"),
        ({"period": "custom", "start": "yesterday", "end": "2026-11-20T08:00"}, "valid date/time"),
        ({"period": "fortnight"}, "Select a valid choice"),
        ({"scope": "w:Nowhere"}, "Select a valid choice"),
    ],
)
def test_bad_input_shows_the_error(manager, filled, params, message):
    response = manager.get("/kpis/review/", params)
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert "total-row" not in body


def test_a_long_month_is_accepted_but_not_a_too_long_range(manager, filled):
    assert (
        "total-row"
        in manager.get("/kpis/review/", {"period": "month", "month": "2026-11"}).content.decode()
    )
    assert (
        "total-row"
        in manager.get("/kpis/review/", {"period": "week", "week": "2026-W48"}).content.decode()
    )
    body = manager.get(
        "/kpis/review/",
        {"period": "custom", "start": "2026-08-01T00:00", "end": "2026-11-02T00:00"},
    ).content.decode()
    assert "at most 92 days" in body


# ----------------------------------------------------------------------------------------
# Queries and print
# ----------------------------------------------------------------------------------------


def test_the_page_queries_do_not_grow_with_the_stations(client, filled, clock):
    workshops = list(
        Station.objects.order_by("workshop").values_list("workshop", flat=True).distinct()
    )
    few = Station.objects.filter(workshop=workshops[0])
    assert 1 <= few.count() <= 4
    assert Station.objects.count() == 12
    day = (clock() - timedelta(days=1)).date().isoformat()

    def count(user) -> int:
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/kpis/review/", {"scope": "all", "period": "day", "date": day})
        assert response.status_code == 200
        assert "total-row" in response.content.decode()
        return len(queries)

    limited = count(user_in("Manager", "few", workshops=[workshops[0]]))
    everyone = count(user_in("Manager", "all"))
    # The limited user's profile costs a query or two; the stations themselves none.
    assert abs(everyone - limited) <= 3, (limited, everyone)


def test_the_print_stylesheet(manager, filled):
    body = manager.get("/kpis/review/").content.decode()
    assert "kpis/review.css" in body
    assert "kpis/charts.css" in body
    assert "kpis/timeline.js" in body
    css = (Path(settings.BASE_DIR) / "static" / "kpis" / "review.css").read_text()
    assert "@media print" in css
    assert re.search(r"@page\s*\{\s*size:\s*A4 landscape;\s*margin:\s*10mm", css)
    assert "print-color-adjust: exact" in css
    assert css.count("{") == css.count("}")


def test_parts_of_a_period_before_counting_began_are_unknown_not_zero(manager, filled, clock):
    # The dashboard started counting parts at the first poll (now): yesterday's shift and
    # last week's cannot say how many parts were made, so they show a dash, never 0.
    occ = the_shift(clock)
    review = manager.get("/kpis/review/", shift_query(occ)).context["review"]
    parts = {c.label: {name: shown for name, shown, *_rest in c.figures} for c in review.compared}
    assert parts
    for label, figures in parts.items():
        assert figures["Parts"] == "—", label
    assert dict(review.current)["Parts"] == "—"
