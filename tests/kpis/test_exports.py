"""The review's CSV and Excel exports: same parameters as the page, raw numbers in CSV,
formatted numbers in Excel, and the same permissions."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import translation
from openpyxl import load_workbook

from accounts.models import Profile
from core.formatting import format_duration, spreadsheet_duration_format
from kpis import views
from kpis.calendar import Calendars, previous_shift
from kpis.engine import station_kpis
from kpis.review import COLUMNS, TIME
from stations.models import Station
from tests.kpis.test_review import fill, user_in
from tests.lookups import present

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled(cwork, clock, monkeypatch):
    fill(cwork, clock)
    monkeypatch.setattr(views, "_now", clock)


@pytest.fixture
def manager(client):
    client.force_login(user_in("Manager"))
    return client


def shift_params(clock) -> dict[str, str]:
    first = Station.objects.order_by("name", "pk").first()
    assert first is not None
    occ = previous_shift(Calendars().for_workshop(first.workshop), clock())
    assert occ is not None
    return {"scope": "all", "period": "shift", "date": occ.day.isoformat(), "shift": occ.name}


def seconds(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) * 86400


def read_csv(response) -> list[dict[str, str]]:
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_has_one_row_per_station_and_a_total(manager, filled, clock):
    response = manager.get("/kpis/review/export.csv", shift_params(clock))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="review-all-')
    assert disposition.endswith('.csv"')
    assert disposition.isascii()

    rows = read_csv(response)
    header = list(rows[0].keys())
    assert header[:3] == ["station", "cwork_id", "workshop"]
    for name in ("OT (s)", "PPT (s)", "OEE (fraction)", "Availability (fraction)", "MTBF (s)"):
        assert name in header
    names = [row["station"] for row in rows]
    assert names[-1] == "TOTAL"
    assert sorted(names[:-1]) == sorted(Station.objects.values_list("name", flat=True))
    total = rows[-1]
    assert float(total["PPT (s)"]) == pytest.approx(
        sum(float(row["PPT (s)"]) for row in rows[:-1]), abs=0.01
    )
    assert float(total["PPT (s)"]) > 0
    # Unformatted numbers: no "%" nor h:mm anywhere.
    numbers = [total[c.csv] for c in COLUMNS if total[c.csv]]
    assert numbers
    for value in numbers:
        float(value)


def test_csv_total_is_the_engines(manager, filled, clock):
    params = shift_params(clock)
    rows = read_csv(manager.get("/kpis/review/export.csv", params))
    stations = list(Station.objects.order_by("name", "pk"))
    first = stations[0]
    occ = previous_shift(Calendars().for_workshop(first.workshop), clock())
    assert occ is not None
    report = station_kpis(stations, occ.start, occ.end, now=clock())
    total = rows[-1]
    assert float(total["RT (s)"]) == pytest.approx(report.total.rt, abs=0.01)
    if report.total.oee is None:
        assert total["OEE (fraction)"] == ""
    else:
        assert float(total["OEE (fraction)"]) == pytest.approx(report.total.oee, abs=1e-5)


def test_xlsx_sheets_formats_and_total(manager, filled, clock):
    response = manager.get("/kpis/review/export.xlsx", shift_params(clock))
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["KPIs", "Sources", "Parts"]

    sheet = book["KPIs"]
    header = [c.value for c in sheet[1]]
    assert header[0] == "Station"
    # Durations are said to be durations: their cells write them as the pages do.
    durations = [f"{c.short} (duration)" for c in COLUMNS if c.kind == TIME]
    assert [name for name in header if name in durations] == durations
    assert not [name for name in header if "h:mm" in str(name)]
    assert all(c.font.bold for c in sheet[1] if c.value)
    assert sheet.freeze_panes == "B2"
    assert sheet.column_dimensions["A"].width >= 20

    keys = [c.key for c in COLUMNS]
    ppt_col = 3 + keys.index("ppt")
    oee_col = 3 + keys.index("oee")
    stations = Station.objects.count()
    assert sheet.max_row == 1 + stations + 1
    body = list(sheet.iter_rows(min_row=2, max_row=sheet.max_row))
    for row in body:
        assert row[ppt_col - 1].number_format == spreadsheet_duration_format()
        assert row[oee_col - 1].number_format == "0.0%"
    total = body[-1]
    assert total[0].value == "TOTAL"
    assert all(c.font.bold for c in total if c.value is not None)
    # Stored as fractions of a day, which openpyxl reads back as durations.
    summed = sum((seconds(row[ppt_col - 1].value) for row in body[:-1]), 0.0)
    assert seconds(total[ppt_col - 1].value) == pytest.approx(summed, abs=0.01)
    assert seconds(total[ppt_col - 1].value) > 0

    sources = book["Sources"]
    assert [c.value for c in sources[1]][:3] == ["Station", "Figure", "Source / ours"]
    assert sources.max_row > stations  # several sources per station
    parts = book["Parts"]
    assert next(c.value for c in parts[1]) == "Order"


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_exports_honour_the_visible_stations(client, filled, clock, extension):
    inside = Station.objects.order_by("name").first()
    assert inside is not None
    user = user_in("Manager", "limited")
    Profile.objects.create(user=user, workshops=[inside.workshop])
    client.force_login(user)
    response = client.get(f"/kpis/review/export.{extension}", shift_params(clock))
    assert response.status_code == 200
    mine = sorted(Station.objects.filter(workshop=inside.workshop).values_list("name", flat=True))
    if extension == "csv":
        names = [row["station"] for row in read_csv(response)]
    else:
        sheet = load_workbook(io.BytesIO(response.content))["KPIs"]
        names = [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert sorted(names[:-1]) == mine
    assert names[-1] == "TOTAL"


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_exports_refuse_without_the_permission(client, extension):
    user = user_in("Supervisor", "super")
    assert Group.objects.get(name="Supervisor")
    client.force_login(user)
    assert client.get(f"/kpis/review/export.{extension}").status_code == 403


def test_a_bad_export_request_is_a_400_not_a_500(manager, filled):
    response = manager.get("/kpis/review/export.csv", {"period": "day", "date": "nope"})
    assert response.status_code == 400
    assert "valid date" in response.content.decode()


#: A number format's sections: under a limit (in days), and the rest.
SECTIONS = re.compile(r"\[<([\d.]+)\](.*?);(.*)")
CODE = re.compile(r'"([^"]*)"|\[h\]|\[m\]|mm|ss')


def rendered(number_format: str, seconds: float) -> str:
    """How a spreadsheet shows ``seconds`` in the duration cell's format (its last unit
    rounded): the section the value falls in, each code replaced by its figure."""
    limit, short, long = present(SECTIONS.fullmatch(number_format)).groups()
    if seconds / 86400 < float(limit):
        section, (big, small) = short, divmod(round(seconds), 60)
        figures = {"[m]": str(big), "ss": f"{small:02d}"}
    else:
        section, (big, small) = long, divmod(round(seconds / 60), 60)
        figures = {"[h]": str(big), "mm": f"{small:02d}"}
    return CODE.sub(lambda m: figures[m[0]] if m[1] is None else m[1], section)


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    "seconds", [0, 5, 59.4, 59.6, 750, 3599.4, 3599.6, 3600, 3661, 53620, 86369]
)
def test_a_duration_cell_writes_its_duration_as_the_pages_do(language, seconds):
    with translation.override(language):
        assert rendered(spreadsheet_duration_format(), seconds) == format_duration(seconds)


def test_a_day_or_more_stays_in_hours_in_a_spreadsheet():
    """A spreadsheet has no count of days past a month: 1 d 9 h is 33 h 00 min there."""
    assert format_duration(33 * 3600) == "1 d 9 h"
    assert rendered(spreadsheet_duration_format(), 33 * 3600) == "33 h 00 min"
