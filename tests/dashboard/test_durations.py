"""One duration format (``core.formatting.format_duration``): the same seconds read the same
wherever a duration is written — the overview, the station page (its ticking times, alarms,
totals, programs), the shift review (table, Paretos, timeline), the spreadsheet export, the
alert messages and pages, and the pages' ticking script — in each language."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from alerts.messages import alert_message, duration_text
from alerts.models import Alert, AlertRule, Condition, Delivery
from alerts.selectors import alert_rows
from core.formatting import format_duration, spreadsheet_duration_format
from dashboard.overview import station_overview
from dashboard.station_page import ProgramRow, StateTotal, station_detail
from dashboard.templatetags.durations import duration_words
from kpis.pareto import Pareto, ParetoBar
from kpis.review import COLUMNS, TIME, text_of
from kpis.timeline import Bar
from stations.models import LiveStatus, State, Station
from tests.kpis.test_exports import rendered
from tests.lookups import present, search

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
#: Seconds across every unit and rounding edge (none exactly half a unit, where rounding
#: rules may differ).
SECONDS = [0, 5, 59.4, 59.6, 750, 3599.4, 3599.6, 3600, 3661, 53620, 86369, 86371, 200000]
LANGUAGES = [code for code, _name in settings.LANGUAGES]
LIVE_JS = Path(settings.BASE_DIR) / "static" / "dashboard" / "live.js"
TICKING = re.compile(r'<time class="ticking[^"]*"[^>]*>([^<]*)</time>')


def station_for(seconds: float) -> Station:
    """A station in its state, with one alarm, for ``seconds`` as of ``NOW``."""
    since = NOW - timedelta(seconds=seconds)
    state = State.objects.get_or_create(
        cwork_id=0, defaults={"name": "Production", "synced_at": NOW}
    )[0]
    station = Station.objects.create(
        cwork_id=Station.objects.count() + 1, name="Lathe", synced_at=NOW
    )
    LiveStatus.objects.create(
        station=station,
        state=state,
        state_cwork_id=0,
        since=since,
        alarms=[["A1", "Spindle", since.isoformat()]],
        changed_at=NOW,
    )
    return station


def written_at_every_site(seconds: float) -> tuple[dict[str, str], str]:
    """``seconds`` as each place that writes a duration writes it, in the active language,
    and an alert's message (a sentence of the language's, holding the duration)."""
    span = timedelta(seconds=seconds)
    station = station_for(seconds)
    detail = station_detail(station, NOW)
    live_html = render_to_string("stations/_station_live.html", {"tile": detail.tile, "now": NOW})
    in_state, alarm_for = TICKING.findall(live_html)
    [row] = [r for r in station_overview("", NOW) if r.station.pk == station.pk]
    rule = AlertRule(name="Long stop", condition=Condition.STATE, minutes=1)
    resolved = Alert(rule=rule, station=station, since=NOW - span, resolved_at=NOW, summary="x")
    ongoing = Alert(rule=rule, station=station, since=NOW - span, summary="x")
    message = alert_message(resolved, Delivery.Kind.RESOLVED, 1, NOW)["text"]
    [time_column] = [c for c in COLUMNS if c.key == "ppt"]
    assert time_column.kind == TIME
    sites = {
        "overview: time in state": row.in_state_for,
        "station page: time in state": in_state.strip(),
        "station page: alarm's time": alarm_for.strip(),
        "station page: alarm row": detail.active_alarms[0].duration_text,
        "station page: state total": StateTotal(
            "Production", "", "", "production", span, 100.0
        ).duration_text,
        "station page: program": ProgramRow("P1", "", NOW - span, None, span).duration_text,
        "review: table cell": text_of(time_column, seconds),
        "review: pareto bar": ParetoBar("x", "", seconds, 1, 1.0, 1.0).value_text,
        "review: pareto total": Pareto("x", [], seconds).total_text,
        "review: timeline bar": Bar(0, 1, "", "x", NOW - span, NOW, "").duration_text,
        "alert e-mail duration": duration_text(span),
        "alert history row": alert_rows([ongoing], NOW)[0].duration,
    }
    if seconds < 86400 - 30:  # a spreadsheet writes a day or more in hours (test_exports)
        sites["spreadsheet cell"] = rendered(spreadsheet_duration_format(), seconds)
    return sites, message


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("seconds", SECONDS)
def test_the_same_seconds_read_the_same_everywhere(language, seconds):
    with translation.override(language):
        expected = format_duration(seconds)
        written, message = written_at_every_site(seconds)
    assert written == dict.fromkeys(written, expected)
    assert f" {expected} (" in message


def ticking_script_texts(words: dict[str, str], seconds: list[float]) -> list[str]:
    """What live.js's ticking times write for ``seconds``, with the page's ``words``."""
    source = LIVE_JS.read_text()
    functions = [
        search(rf"  function {name}\(.*?\n  }}\n", source, re.S)[0]
        for name in ("fill", "durationText")
    ]
    program = "".join(functions) + (
        f"console.log(JSON.stringify({json.dumps(seconds)}.map("
        f"function (s) {{ return durationText(s * 1000, {json.dumps(words)}); }})));"
    )
    node = shutil.which("node")
    assert node, "node runs live.js's duration format"
    done = subprocess.run(
        [node, "-e", program], capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_ticking_times_read_as_the_server_writes_them(language):
    with translation.override(language):
        tag = duration_words()
        expected = [format_duration(s) for s in SECONDS]
    words = json.loads(
        present(
            re.fullmatch(r'<script id="duration-words" type="application/json">(.*)</script>', tag)
        )[1]
    )
    assert ticking_script_texts(words, SECONDS) == expected


@pytest.mark.parametrize("page", ["/wall/", "/stations/"])
def test_the_pages_with_ticking_times_give_the_script_their_words(client, page):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("viewer", password="x" * 12))
    body = client.get(page).content.decode()
    assert 'id="duration-words"' in body
    assert body.index('id="duration-words"') < body.index("dashboard/live")
