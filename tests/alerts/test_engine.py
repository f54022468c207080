"""Alert rules against the live data: they fire in the poll that makes them true, escalate,
resolve with how long they lasted, and stay quiet when they should."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile
from alerts import engine
from alerts.models import Alert, AlertRule, Condition, Delivery, EscalationLevel
from cwork.client import CWorkClient
from kpis.models import Calendar, Shift
from stations.jobs import run_job
from stations.models import State, Station
from tests.stations.helpers import RewritingTransport, other_state, writable_station

pytestmark = pytest.mark.django_db


def poll(cwork, clock) -> None:
    result = run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    assert result.ok, result.reason


def rule_for(station: Station | None, condition: str = Condition.STATE, **fields) -> AlertRule:
    rule = AlertRule.objects.create(name=f"Rule {condition}", condition=condition, **fields)
    if station is not None:
        rule.stations.add(station)
    return rule


def level(rule: AlertRule, number: int, delay: int = 0, emails: str = "") -> EscalationLevel:
    return EscalationLevel.objects.create(
        rule=rule, level=number, delay_minutes=delay, emails=emails or f"level{number}@plant.test"
    )


def deliveries(kind: str) -> list[tuple[int | None, str]]:
    return sorted(Delivery.objects.filter(kind=kind).values_list("level", "recipient"))


def switch(sim, handle: int) -> int:
    state = other_state(sim, handle)
    sim.world.change_state(handle, state, "")
    return state


@pytest.fixture
def watched(sim, cwork, clock):
    """A writable station, polled once, and a rule watching the state it is switched to."""
    poll(cwork, clock)
    handle = writable_station(sim)
    station = Station.objects.get(cwork_id=handle)
    state = other_state(sim, handle)
    rule = rule_for(station, minutes=10)
    rule.states.add(State.objects.get(cwork_id=state))
    return handle, station, state, rule


def test_a_lasting_state_fires_escalates_and_resolves_with_its_duration(sim, cwork, clock, watched):
    handle, station, state, rule = watched
    level(rule, 1)
    level(rule, 2, delay=15, emails="manager@plant.test")
    sim.world.change_state(handle, state, "")
    poll(cwork, clock)
    alert = Alert.objects.get(rule=rule, station=station)
    assert alert.status == Alert.Status.PENDING
    assert not Delivery.objects.exists()

    clock.advance(9 * 60)
    poll(cwork, clock)
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.PENDING

    clock.advance(61)  # ten minutes in that state: it fires in this very poll
    poll(cwork, clock)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.FIRING
    assert alert.fired_at == clock()
    assert alert.level == 1
    assert deliveries("fired") == [(1, "level1@plant.test")]
    fired = Delivery.objects.get(kind="fired")
    assert station.name in fired.payload["subject"]
    assert fired.payload["event"]["station_id"] == handle

    clock.advance(14 * 60)
    poll(cwork, clock)
    assert not Delivery.objects.filter(kind="escalated").exists()
    clock.advance(60)
    poll(cwork, clock)
    assert deliveries("escalated") == [(2, "manager@plant.test")]
    assert Alert.objects.get(pk=alert.pk).level == 2
    clock.advance(60)
    poll(cwork, clock)
    assert Delivery.objects.filter(kind="escalated").count() == 1  # told once

    switch(sim, handle)
    poll(cwork, clock)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert.resolved_at == clock()
    assert deliveries("resolved") == [(1, "level1@plant.test"), (2, "manager@plant.test")]
    resolved = Delivery.objects.filter(kind="resolved").first()
    assert resolved is not None
    assert "26 min" in resolved.payload["text"]  # 9 + 1 + 14 + 1 + 1 minutes in that state


def test_each_person_on_a_level_is_told_in_their_language(sim, cwork, clock, watched):
    handle, _station, state, rule = watched
    french = get_user_model().objects.create_user("fanny", "fanny@plant.test", "x" * 12)
    Profile.objects.create(user=french, language="fr")
    level(rule, 1, emails="desk@plant.test").users.add(french)
    sim.world.change_state(handle, state, "")
    poll(cwork, clock)
    clock.advance(10 * 60)
    poll(cwork, clock)

    mails = {d.recipient: d.payload for d in Delivery.objects.filter(kind="fired")}
    assert set(mails) == {"fanny@plant.test", "desk@plant.test"}
    assert "Ouvrir le poste dans le tableau de bord" in mails["fanny@plant.test"]["html"]
    assert "Open the station in the dashboard" in mails["desk@plant.test"]["html"]


def test_a_condition_that_clears_before_its_minutes_sends_nothing(sim, cwork, clock, watched):
    handle, _station, state, rule = watched
    level(rule, 1)
    sim.world.change_state(handle, state, "")
    poll(cwork, clock)
    clock.advance(5 * 60)
    switch(sim, handle)
    poll(cwork, clock)
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()


def test_a_flapping_condition_is_told_once_per_quiet_time(sim, cwork, clock, watched):
    handle, _station, state, rule = watched
    rule.minutes, rule.repeat_minutes = 0, 30
    rule.save()
    level(rule, 1)
    for _ in range(3):
        sim.world.change_state(handle, state, "")
        poll(cwork, clock)
        clock.advance(60)
        switch(sim, handle)
        poll(cwork, clock)
        clock.advance(60)
    alerts = list(Alert.objects.order_by("since"))
    assert [a.suppressed for a in alerts] == [False, True, True]
    assert all(a.status == Alert.Status.RESOLVED for a in alerts)
    assert len(deliveries("fired")) == 1
    assert len(deliveries("resolved")) == 1

    clock.advance(30 * 60)
    sim.world.change_state(handle, state, "")
    poll(cwork, clock)
    assert len(deliveries("fired")) == 2


def test_a_rule_sends_at_most_its_hourly_ceiling(sim, cwork, clock):
    poll(cwork, clock)
    rule = rule_for(None, Condition.NOT_REPORTING, max_per_hour=2)
    level(rule, 1)
    hide_all = RewritingTransport(sim.transport(), "/station_statuses", lambda body: [])
    with CWorkClient("http://cwork", "demo-key", transport=hide_all) as silent:
        poll(silent, clock)
    fired = Alert.objects.filter(rule=rule)
    assert fired.count() == Station.objects.filter(disabled=False).count()
    assert fired.filter(suppressed=False).count() == 2
    assert len(deliveries("fired")) == 2


def test_the_scope_and_the_shifts_choose_where_and_when(sim, cwork, clock):
    poll(cwork, clock)
    stations = list(Station.objects.filter(disabled=False).exclude(workshop=""))
    inside = stations[0]
    outside = next(s for s in stations if s.workshop != inside.workshop)
    rule = rule_for(None, Condition.NOT_REPORTING, workshops=[inside.workshop])
    level(rule, 1)
    # Only during the afternoon shift of the workshop's calendar; it is 10:00 in the plant.
    calendar = Calendar.objects.create(name="2×8", workshops=[inside.workshop])
    Shift.objects.create(calendar=calendar, name="Morning", start=time(5), end=time(13))
    afternoon = Shift.objects.create(
        calendar=calendar, name="Afternoon", start=time(13), end=time(21)
    )
    rule.shifts.add(afternoon)

    hide = {inside.cwork_id, outside.cwork_id}
    without = RewritingTransport(
        sim.transport(),
        "/station_statuses",
        lambda body: [s for s in body if s["Handle"] not in hide],
    )
    with CWorkClient("http://cwork", "demo-key", transport=without) as silent:
        poll(silent, clock)
        assert not Alert.objects.exists()  # not in the afternoon shift yet
        clock.set(datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC))  # 13:00:01 in Paris
        poll(silent, clock)
    assert list(Alert.objects.values_list("station_id", "status")) == [(inside.pk, "firing")]
    assert "not reporting" in Alert.objects.get().summary


def test_an_alarm_rule_matches_its_code_or_pattern_from_the_alarm_start(sim, cwork, clock):
    poll(cwork, clock)
    handle = writable_station(sim)
    station = Station.objects.get(cwork_id=handle)
    rule = rule_for(station, Condition.ALARM, alarm_pattern=r"spindle|coolant", minutes=5)
    level(rule, 1)
    started = clock() - timedelta(minutes=6)

    def with_alarm(body):
        for status in body:
            if status["Handle"] == handle:
                status["Alarms"] = [
                    {"Code": "E12", "Message": "Door open", "StartDate": clock().isoformat()},
                    {"Code": "E40", "Message": "Coolant LOW", "StartDate": started.isoformat()},
                ]
        return body

    alarmed = RewritingTransport(sim.transport(), "/station_statuses", with_alarm)
    with CWorkClient("http://cwork", "demo-key", transport=alarmed) as client:
        poll(client, clock)
    alert = Alert.objects.get()
    # Active for six minutes already (CWork says since when): it fires at once.
    assert alert.status == Alert.Status.FIRING
    assert alert.since == started
    assert "E40 Coolant LOW" in alert.summary
    poll(cwork, clock)  # the alarm is gone
    assert Alert.objects.get().status == Alert.Status.RESOLVED


def test_a_stop_rule_follows_the_stop_across_states_of_its_category(sim, cwork, clock):
    poll(cwork, clock)
    handle = writable_station(sim)
    station = Station.objects.get(cwork_id=handle)
    rule = rule_for(station, Condition.STOP, stop_category="any", minutes=20)
    level(rule, 1)
    buckets = engine.state_buckets()
    stops = _stop_states(sim, buckets)
    assert len(stops) >= 2
    sim.world.change_state(handle, stops[0], "")
    poll(cwork, clock)
    since = Alert.objects.get().since
    clock.advance(12 * 60)
    sim.world.change_state(handle, stops[1], "")  # still stopped, for another reason
    poll(cwork, clock)
    clock.advance(9 * 60)
    poll(cwork, clock)
    alert = Alert.objects.get()
    assert alert.since == since
    assert alert.status == Alert.Status.FIRING


def _stop_states(sim, buckets) -> list[int]:
    found = []
    for handle in range(64):
        try:
            definition = sim.world.state(handle)
        except Exception:  # noqa: S112 - not every id is a state
            continue
        if (
            not definition.archived
            and definition.parent is None
            and buckets.get(handle) != "production"
        ):
            found.append(handle)
    return found


def test_a_disabled_rule_ends_its_open_alerts_without_a_message(sim, cwork, clock):
    poll(cwork, clock)
    rule = rule_for(None, Condition.NOT_REPORTING)
    level(rule, 1)
    hide_all = RewritingTransport(sim.transport(), "/station_statuses", lambda body: [])
    with CWorkClient("http://cwork", "demo-key", transport=hide_all) as silent:
        poll(silent, clock)
        assert Alert.objects.filter(status="firing").exists()
        rule.enabled = False
        rule.save()
        poll(silent, clock)
    assert not Alert.objects.exclude(status="resolved").exists()
    assert not Delivery.objects.filter(kind="resolved").exists()


def test_a_broken_rule_never_breaks_the_poll(sim, cwork, clock, monkeypatch, caplog):
    poll(cwork, clock)
    rule_for(None, Condition.NOT_REPORTING)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "load_rules", broken)
    poll(cwork, clock)
    assert "evaluating the alert rules failed" in caplog.text


def test_without_rules_a_poll_reads_nothing_of_alerts_and_sees_a_new_rule_at_once(
    sim, cwork, clock
):
    poll(cwork, clock)
    poll(cwork, clock)  # the alert tables were read once, and found empty
    with CaptureQueriesContext(connection) as queries:
        poll(cwork, clock)
    assert not [q for q in queries.captured_queries if "alerts_" in q["sql"]]

    rule_for(None, Condition.NOT_REPORTING)  # saved as its page or the admin saves it
    hide_all = RewritingTransport(sim.transport(), "/station_statuses", lambda body: [])
    with CWorkClient("http://cwork", "demo-key", transport=hide_all) as silent:
        poll(silent, clock)
    assert Alert.objects.filter(status="firing").exists()
