"""The review's Paretos: stop time by state inside the opening, CNC alarms by code."""

from __future__ import annotations

from datetime import UTC, datetime, time
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string

from kpis.models import Calendar, Shift
from kpis.pareto import (
    LABEL_SIZE,
    LABEL_WIDTH,
    alarm_pareto,
    fit_text,
    stop_pareto,
    text_width,
)
from stations.models import AlarmInterval, State, Station, Top

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
SYNCED = datetime(2026, 1, 1, tzinfo=UTC)
RUN, WAIT, BREAKDOWN, SETTING, BREAK = 10, 3, 1, 4, 5


def station(cwork_id: int = 1, name: str = "Lathe 1", workshop: str = "A") -> Station:
    return Station.objects.create(cwork_id=cwork_id, name=name, workshop=workshop, synced_at=SYNCED)


def state(cwork_id: int, name: str, color: str, category: int) -> State:
    return State.objects.create(
        cwork_id=cwork_id, name=name, color=color, oee_category=category, synced_at=SYNCED
    )


def catalogue() -> None:
    state(RUN, "Production", "#2e7d32", 4)
    state(WAIT, "Waiting", "#f9a825", 3)
    state(BREAKDOWN, "Breakdown", "#c62828", 2)
    state(SETTING, "Setting", "#6a1b9a", 2)
    state(BREAK, "Break", "#607d8b", 1)


def top(st: Station, start: datetime, end: datetime | None, state_id: int) -> Top:
    return Top.objects.create(station=st, start=start, end=end, state_cwork_id=state_id)


def at(hour: int, minute: int = 0) -> datetime:
    """A plant time on Tuesday 24 November 2026 (UTC+1), as UTC."""
    return datetime(2026, 11, 24, hour, minute, tzinfo=PARIS).astimezone(UTC)


def alarm(st: Station, code: str, start: datetime, end: datetime | None, message: str = ""):
    return AlarmInterval.objects.create(
        station=st, code=code, message=message, start=start, end=end
    )


# ---- stops ---------------------------------------------------------------------------


def test_without_calendar_every_stop_in_the_period_counts_up_to_now():
    catalogue()
    st = station()
    top(st, at(7), at(9), BREAKDOWN)  # 1 h inside the period
    top(st, at(9), at(10), RUN)
    top(st, at(10), at(11), WAIT)
    top(st, at(11), at(11, 30), SETTING)
    top(st, at(11, 30), at(12), BREAK)  # disengaged: not a stop
    top(st, at(12), None, BREAKDOWN)  # open: until now
    pareto = stop_pareto([st], at(8), at(16), now=at(13, 30))

    assert [(b.label, b.value) for b in pareto.bars] == [
        ("Breakdown", 9000.0),  # 1 h + 1 h 30
        ("Waiting", 3600.0),
        ("Setting", 1800.0),
    ]
    assert pareto.total == 14400.0
    assert pareto.bars[0].color == "#c62828"
    assert [round(b.share, 3) for b in pareto.bars] == [0.625, 0.25, 0.125]
    assert [round(b.cumulative, 3) for b in pareto.bars] == [0.625, 0.875, 1.0]
    assert all(b.count is None for b in pareto.bars)


def test_stop_time_outside_the_calendar_opening_does_not_count():
    catalogue()
    calendar = Calendar.objects.create(name="Day", workshops=["A"])
    Shift.objects.create(calendar=calendar, name="Morning", start=time(9), end=time(12))
    st = station(workshop="A")
    other = station(2, "Mill 2", workshop="B")  # no calendar: open 24/7
    top(st, at(8), at(10), BREAKDOWN)  # 1 h inside 9–12
    top(st, at(11, 30), at(13), WAIT)  # 30 min inside
    top(other, at(8), at(10), BREAKDOWN)  # 2 h
    pareto = stop_pareto([st, other], at(0), at(23, 59), now=at(20))

    values = {b.label: b.value for b in pareto.bars}
    assert values == {"Breakdown": 3 * 3600.0, "Waiting": 1800.0}
    assert pareto.total == sum(values.values())


def test_more_than_ten_stop_states_end_in_other():
    st = station()
    for i in range(12):
        state(100 + i, f"Stop {i}", "#123456", 3)
        top(st, at(8, i * 4), at(8, i * 4 + 1 + i % 3), 100 + i)
    pareto = stop_pareto([st], at(0), at(23), now=at(23))

    assert len(pareto.bars) == 11
    assert pareto.bars[-1].other
    assert "Other" in pareto.bars[-1].label
    assert pareto.bars[-1].value == sum(b.value for b in pareto.bars) - sum(
        b.value for b in pareto.bars[:10]
    )
    values = [b.value for b in pareto.bars[:10]]
    assert values == sorted(values, reverse=True)
    assert pareto.bars[-1].cumulative == pytest.approx(1.0)
    assert pareto.total == pytest.approx(sum(b.value for b in pareto.bars))


def test_no_stops_says_so():
    catalogue()
    st = station()
    top(st, at(8), at(12), RUN)
    pareto = stop_pareto([st], at(8), at(12), now=at(20))
    assert pareto.bars == []
    assert pareto.total == 0
    html = render_to_string("kpis/_pareto.html", {"pareto": pareto})
    assert "No stops in this period" in html
    assert "<svg" not in html


# ---- alarms --------------------------------------------------------------------------


def test_alarms_by_code_count_every_occurrence_in_the_period_and_clip_durations():
    st = station()
    other = station(2, "Mill 2")
    alarm(st, "E1", at(7), at(9), "Door open")  # started before: 1 h, counted too
    alarm(st, "E1", at(10), at(10, 30), "Door open")  # 30 min
    alarm(other, "E1", at(11), at(11, 10), "Door open")  # 10 min
    alarm(st, "E2", at(12), None, "Low oil")  # active: until now, 1 h 30
    alarm(st, "E3", at(15), at(17))  # after now: left out
    pareto = alarm_pareto([st, other], at(8), at(16), now=at(13, 30))

    assert [(b.label, b.count, b.value) for b in pareto.bars] == [
        ("E1 – Door open", 3, 6000.0),
        ("E2 – Low oil", 1, 5400.0),
    ]
    assert pareto.total == 11400.0
    assert pareto.bars[1].cumulative == pytest.approx(1.0)


def test_no_alarms_says_so():
    st = station()
    pareto = alarm_pareto([st], at(8), at(16), now=at(20))
    html = render_to_string("kpis/_pareto.html", {"pareto": pareto})
    assert "No alarms in this period" in html


# ---- the fragment --------------------------------------------------------------------


def test_the_fragment_draws_bars_values_and_cumulative():
    catalogue()
    st = station()
    top(st, at(8), at(9, 5), BREAKDOWN)
    top(st, at(9, 5), at(9, 35), WAIT)
    alarm(st, "E1", at(8), at(8, 20), "Door <open>")
    stops = render_to_string(
        "kpis/_pareto.html", {"pareto": stop_pareto([st], at(8), at(16), now=at(20))}
    )
    assert "<svg" in stops
    assert 'role="img"' in stops
    assert "Breakdown" in stops
    assert "1 h 05 min" in stops
    assert "100 %" in stops
    assert "<polyline" in stops

    alarms = render_to_string(
        "kpis/_pareto.html", {"pareto": alarm_pareto([st], at(8), at(16), now=at(20))}
    )
    assert "E1 – Door &lt;open&gt;" in alarms
    assert "1 time" in alarms


# ---- labels that fit -----------------------------------------------------------------

#: Wide labels: capitals and "W"s, accented letters, a long CNC message; a short one.
LONG_MESSAGES = {
    "WWW-9031": "MAIN SPINDLE MOTOR OVERHEAT — COOLANT PUMP PRESSURE LOW, CHECK FILTER",
    "ÉMULSION": "ÉCART DE VITESSE BROCHE ÉLEVÉ, VÉRIFIER LE CAPTEUR ET LA COURROIE",
    "M": "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM",
    "E1": "Door open",
}


def svg_labels(html: str):
    """Each drawn label of the Pareto's SVG, with its bar's hover text."""
    drawn = html[html.index("<svg") : html.index("</svg>") + 6]
    svg = ElementTree.fromstring(drawn)  # noqa: S314 - our own fragment
    return [
        (g.find("text[@class='pareto-label']"), g.findtext("title") or "")
        for g in svg.iter("g")
        if "pareto-bar" in g.get("class", "")
    ]


def test_a_label_is_measured_not_counted():
    assert text_width("WWWWWWWWWW", 12) == pytest.approx(10 * 0.989 * 12)
    assert text_width("iiiiiiiiii", 12) < text_width("MMMMMMMMMM", 12) / 3
    assert text_width("é") == text_width("e")  # an accent takes no room of its own
    assert fit_text("Door open") == "Door open"
    cut = fit_text("M" * 60)
    assert cut.endswith("…")
    assert text_width(cut) <= LABEL_WIDTH
    assert text_width(cut[:-1] + "M…") > LABEL_WIDTH  # as long as fits, no shorter


def test_long_alarm_labels_are_cut_to_fit_left_of_the_bars_and_hover_whole():
    st = station()
    for n, (code, message) in enumerate(LONG_MESSAGES.items()):
        alarm(st, code, at(8 + n), at(8 + n, 50 - n), message)
    pareto = alarm_pareto([st], at(8), at(16), now=at(20))
    html = render_to_string("kpis/_pareto.html", {"pareto": pareto})

    labels = svg_labels(html)
    assert len(labels) == len(LONG_MESSAGES)
    cut = 0
    for text, title in labels:
        shown = text.text or ""
        size = float(text.get("font-size"))
        end = float(text.get("x"))
        assert size == LABEL_SIZE
        assert text.get("text-anchor") == "end"
        # It ends at LABEL_END, so it starts at end - width: never left of the viewBox.
        assert end - text_width(shown, size) >= 0, (shown, text_width(shown, size))
        if shown.endswith("…"):
            cut += 1
            whole = next(f"{c} – {m}" for c, m in LONG_MESSAGES.items() if title.startswith(c))
            assert whole.startswith(shown[:-1].rstrip())
            assert title.startswith(whole + ":")  # the hover text has the whole label
        else:
            assert title.startswith(shown + ":")
    assert cut == 3
    assert "E1 – Door open" in [text.text for text, _ in labels]
