"""End-of-shift reports and the shift-OEE alert: a workshop's subscribers get one report per
shift a few minutes after it ends (however many workers look), with the review's figures, a
link to it and the review as a workbook; a manager can send one again; a shift-OEE rule fires
once per station and shift when the shift ended below target.

The factory is the simulator, synced at the fixed test instant (Tuesday 09:30 UTC): the 3×8
workshop's night shift ended at 04:00 UTC, the 2×8 workshop's afternoon shift on Monday at
20:00 UTC.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from openpyxl import load_workbook

import alerts.reports as reports
from accounts.models import Profile
from accounts.roles import ROLE_PERMISSIONS
from alerts.models import Alert, AlertRule, Condition, Delivery, ReportSubscription, ShiftReport
from alerts.reports import resend_report, run_shift_ends
from kpis.calendar import Calendars, previous_shift
from kpis.engine import station_kpis
from kpis.models import Calendar, Shift
from kpis.review import pct
from stations.models import Station
from tests.kpis.test_review import fill

pytestmark = pytest.mark.django_db

DELAY = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def factory(cwork, clock):
    fill(cwork, clock)
    return clock


def person(name: str, role: str = "Manager", *, email: str | None = None):
    address = f"{name}@plant.example" if email is None else email
    user = get_user_model().objects.create_user(name, address, "x" * 12)
    # A transactional test's flush removes the groups the roles migration made: give the
    # user its role's permissions directly then.
    group = Group.objects.filter(name=role).first()
    if group is not None:
        user.groups.add(group)
    else:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="accounts", codename__in=ROLE_PERMISSIONS[role]
            )
        )
    return user


def workshop_of(calendar: str) -> str:
    return Calendar.objects.get(name=calendar).workshops[0]


def night_shift(clock):
    """Building A's (3×8) night shift, which ended at 04:00 UTC."""
    spec = Calendars().for_workshop(workshop_of("3×8"))
    occ = previous_shift(spec, clock())
    assert occ is not None
    assert occ.name == "Night"
    return occ


def deliveries_of(workshop: str, occ) -> list[Delivery]:
    return list(
        Delivery.objects.filter(report__workshop=workshop, report__shift_start=occ.start)
        .order_by("recipient")
        .select_related("report")
    )


# ----------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------


def test_the_report_goes_out_after_the_delay_with_kpis_link_and_workbook(
    factory, clock, settings, caplog
):
    settings.SITE_URL = "https://wall.plant.example/"
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    alice = person("alice")
    ReportSubscription.objects.create(user=alice, workshop=workshop)
    ReportSubscription.objects.create(user=person("bob", email=""), workshop=workshop)

    run_shift_ends(night.end + DELAY - timedelta(minutes=1))
    assert not ShiftReport.objects.filter(shift_start=night.start).exists()

    with caplog.at_level(logging.INFO, logger="alerts.reports"):
        run_shift_ends(night.end + DELAY)
    report = ShiftReport.objects.get(workshop=workshop, shift_start=night.start)
    assert report.shift_key == night.key
    assert report.shift_end == night.end
    (delivery,) = deliveries_of(workshop, night)  # bob has no address: left out, and said so
    assert "bob" in caplog.text
    assert "without an e-mail address" in caplog.text
    assert delivery.recipient == "alice@plant.example"
    assert delivery.kind == Delivery.Kind.REPORT
    assert delivery.status == Delivery.Status.PENDING

    stations = list(Station.objects.filter(workshop=workshop).order_by("name", "pk"))
    expected = station_kpis(stations, night.start, night.end, now=night.end + DELAY)
    payload = delivery.payload
    assert payload["subject"] == f"{workshop} · {night.label()}: OEE {pct(expected.total.oee)}"
    query = urlencode(
        {"scope": f"w:{workshop}", "date": night.day.isoformat(), "period": "shift"}
        | {"shift": "Night"}
    )
    link = f"https://wall.plant.example/kpis/review/?{query}"
    for body in (payload["text"], payload["html"]):
        for row in expected.rows:
            assert row.station.name in body
            assert pct(row.kpis.oee) in body
            assert pct(row.kpis.availability) in body
        assert pct(expected.total.oee) in body
        assert "Biggest losses" in body
        assert "Previous shift" in body
    assert link in payload["text"]
    assert link.replace("&", "&amp;") in payload["html"]
    assert payload["event"]["shift"] == night.key

    (attachment,) = payload["attachments"]
    assert attachment["filename"].endswith(".xlsx")
    assert attachment["mimetype"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(base64.b64decode(attachment["content_base64"])))
    assert book.sheetnames == ["KPIs", "Sources", "Parts"]
    names = [row[0].value for row in book["KPIs"].iter_rows(min_row=2)]
    assert names == [s.name for s in stations] + ["TOTAL"]


def test_a_report_is_queued_once_however_often_the_job_runs(factory, clock):
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    ReportSubscription.objects.create(user=person("carol"), workshop=workshop)
    now = night.end + DELAY

    first = run_shift_ends(now)
    assert first >= 1
    assert run_shift_ends(now) == 0
    assert run_shift_ends(now + timedelta(minutes=5)) == 0
    assert ShiftReport.objects.filter(workshop=workshop, shift_start=night.start).count() == 1
    assert len(deliveries_of(workshop, night)) == 2


def test_a_worker_that_loses_the_race_for_a_shift_skips_it(factory, clock, monkeypatch):
    """Another worker claims the shift while this one builds the message: the unique
    (workshop, shift start) refuses the second claim and nothing is queued twice."""
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    now = night.end + DELAY
    real = reports.report_message
    raced: list[int] = []

    def racing(*args, **kwargs):
        message = real(*args, **kwargs)
        if not raced:
            raced.append(1)
            monkeypatch.setattr(reports, "report_message", real)
            # The other worker (on another machine: the run lock is per cache), done first.
            raced.append(reports.queue_shift_reports(now))
        return message

    monkeypatch.setattr(reports, "report_message", racing)
    run_shift_ends(now)
    assert raced[1] >= 1
    assert ShiftReport.objects.filter(workshop=workshop, shift_start=night.start).count() == 1
    assert len(deliveries_of(workshop, night)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_queue_the_report_once(factory, clock):
    """The whole entry from two threads at once (the test above forces the race itself)."""
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    now = night.end + DELAY
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            start.wait(timeout=10)
            run_shift_ends(now)
        except BaseException as error:  # reported below, with the test's failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert ShiftReport.objects.filter(workshop=workshop, shift_start=night.start).count() == 1
    assert len(deliveries_of(workshop, night)) == 1


def test_only_subscribed_workshops_get_reports_and_old_shifts_none(factory, clock, settings):
    building_a, building_b = workshop_of("3×8"), workshop_of("2×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=building_a)
    now = night.end + DELAY  # 04:10 UTC: B's afternoon (ended 20:00) is 8 h 10 min old

    run_shift_ends(now)
    assert not ShiftReport.objects.filter(workshop=building_b).exists()
    assert ShiftReport.objects.filter(workshop=building_a, shift_start=night.start).exists()

    # Subscribed later, B's afternoon goes out while it is recent enough, not after.
    ReportSubscription.objects.create(user=person("dave"), workshop=building_b)
    settings.SHIFT_REPORT_MAX_AGE_HOURS = 8
    run_shift_ends(now)
    assert not ShiftReport.objects.filter(workshop=building_b).exists()
    settings.SHIFT_REPORT_MAX_AGE_HOURS = 12
    run_shift_ends(now)
    (afternoon,) = ShiftReport.objects.filter(workshop=building_b)
    assert afternoon.shift_key.endswith("/Afternoon")


def test_a_resend_queues_again_to_the_current_subscribers_and_records_who(factory, clock):
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    run_shift_ends(night.end + DELAY)
    report = ShiftReport.objects.get(workshop=workshop, shift_start=night.start)
    first = deliveries_of(workshop, night)[0]
    ReportSubscription.objects.create(user=person("erin"), workshop=workshop)
    boss = person("boss")

    assert resend_report(report, boss, clock()) == 2
    report.refresh_from_db()
    assert report.resent_by == boss
    again = deliveries_of(workshop, night)
    assert sorted(d.recipient for d in again) == [
        "alice@plant.example",
        "alice@plant.example",
        "erin@plant.example",
    ]
    assert all(d.payload["subject"] == first.payload["subject"] for d in again)
    assert ShiftReport.objects.filter(workshop=workshop).count() >= 1


def test_each_subscriber_reads_the_report_in_their_language(factory, clock):
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    french = person("fanny")
    Profile.objects.create(user=french, language="fr")
    ReportSubscription.objects.create(user=french, workshop=workshop)

    run_shift_ends(night.end + DELAY)
    english_mail, french_mail = deliveries_of(workshop, night)  # alice, fanny
    assert english_mail.payload["language"] == "en"
    assert "Biggest losses" in english_mail.payload["text"]
    assert french_mail.payload["language"] == "fr"
    assert "Biggest losses" not in french_mail.payload["text"]
    assert "TRS" in french_mail.payload["subject"]

    report = ShiftReport.objects.get(workshop=workshop, shift_start=night.start)
    resend_report(report, person("boss"), clock())
    again = [d for d in deliveries_of(workshop, night) if d.recipient.startswith("fanny")]
    assert [d.payload["subject"] for d in again] == [french_mail.payload["subject"]] * 2


# ----------------------------------------------------------------------------------------
# Shift OEE below target
# ----------------------------------------------------------------------------------------


def night_oees(clock) -> dict[int, float]:
    night = night_shift(clock)
    stations = list(Station.objects.filter(workshop=workshop_of("3×8")))
    report = station_kpis(stations, night.start, night.end, now=night.end + DELAY)
    found = {row.station.pk: row.kpis.oee for row in report.rows if row.kpis.oee is not None}
    assert len(found) == len(stations)
    return found


def shift_oee_rule(target: int, *shifts: Shift) -> AlertRule:
    rule = AlertRule.objects.create(
        name=f"OEE under {target} %",
        condition=Condition.SHIFT_OEE,
        threshold_percent=target,
        workshops=[workshop_of("3×8")],
    )
    rule.shifts.set(shifts)
    return rule


def test_the_shift_oee_rule_fires_once_per_station_below_target(factory, clock, settings):
    settings.SHIFT_REPORT_MAX_AGE_HOURS = 6  # the night only, not Monday's afternoon
    night = night_shift(clock)
    oees = night_oees(clock)
    ordered = sorted(oees.values())
    assert ordered[0] < ordered[-1]
    # A target between the worst and the best station's OEE.
    target = round((ordered[0] + ordered[-1]) * 50)
    below = {sid for sid, oee in oees.items() if oee * 100 < target}
    assert 0 < len(below) < len(oees)
    rule = shift_oee_rule(target)

    run_shift_ends(night.end + DELAY - timedelta(minutes=1))
    assert not Alert.objects.exists()
    run_shift_ends(night.end + DELAY)
    alerts = list(Alert.objects.filter(rule=rule))
    assert {a.station_id for a in alerts} == below
    for alert in alerts:
        assert alert.since == night.start
        assert alert.status == Alert.Status.RESOLVED
        assert f"< target {target} %" in alert.summary
        assert night.label() in alert.summary
        assert pct(oees[alert.station_id]) in alert.summary

    # Once per station and shift: later runs, and a cold cache, raise nothing more.
    run_shift_ends(night.end + DELAY + timedelta(minutes=1))
    cache.clear()
    run_shift_ends(night.end + DELAY + timedelta(minutes=2))
    assert Alert.objects.filter(rule=rule).count() == len(below)


def test_the_shift_oee_rule_stays_quiet_above_target(factory, clock, settings):
    settings.SHIFT_REPORT_MAX_AGE_HOURS = 6
    night = night_shift(clock)
    worst = min(night_oees(clock).values())
    shift_oee_rule(int(worst * 100))  # every station at or above it
    run_shift_ends(night.end + DELAY)
    assert not Alert.objects.exists()


def test_the_shift_oee_rule_only_checks_its_shifts(factory, clock):
    night = night_shift(clock)
    afternoon = Shift.objects.get(calendar__name="3×8", name="Afternoon")
    rule = shift_oee_rule(100, afternoon)
    run_shift_ends(night.end + DELAY)  # Monday's afternoon (ended 20:00) and the night
    starts = set(Alert.objects.filter(rule=rule).values_list("since", flat=True))
    assert night.start not in starts
    assert len(starts) == 1
    (since,) = starts
    assert since.astimezone(night.start.tzinfo) == night.start - timedelta(hours=8)


# ----------------------------------------------------------------------------------------
# The pages
# ----------------------------------------------------------------------------------------


URLS = ["/alerts/reports/", "/alerts/reports/everyone/", "/alerts/reports/sent/"]


@pytest.mark.parametrize("url", URLS)
def test_a_viewer_is_refused_every_reports_page(client, url):
    client.force_login(person("victor", "Viewer"))
    assert client.get(url).status_code == 403
    assert client.post(url, {"workshop": "Building A"}).status_code == 403
    assert not ReportSubscription.objects.exists()


def test_a_review_reader_manages_only_their_own_subscriptions(client, factory):
    reader = person("rita", "Viewer")
    reader.user_permissions.add(
        Permission.objects.get(content_type__app_label="accounts", codename="view_reviews")
    )
    client.force_login(reader)
    body = client.get("/alerts/reports/").content.decode()
    assert "My subscriptions" in body
    assert "Recent reports" not in body
    assert "Everyone" not in body
    assert client.get("/alerts/reports/everyone/").status_code == 403
    assert client.post("/alerts/reports/sent/", {"report": 1}).status_code == 403
    response = client.post("/alerts/reports/", {"workshop": ["Building A"]})
    assert response.status_code == 302
    assert list(ReportSubscription.objects.values_list("user__username", "workshop")) == [
        ("rita", "Building A")
    ]


def test_subscribe_and_unsubscribe(client, factory):
    user = person("alice")
    client.force_login(user)
    page = client.get("/alerts/reports/")
    body = page.content.decode()
    assert page.status_code == 200
    for workshop in ("Building A", "Building B", "Building C"):
        assert f'name="workshop" value="{workshop}"' in body
    assert "has no e-mail address" not in body

    response = client.post("/alerts/reports/", {"workshop": ["Building A", "Building C"]})
    assert response.status_code == 302
    assert set(ReportSubscription.objects.filter(user=user).values_list("workshop", flat=True)) == {
        "Building A",
        "Building C",
    }
    page = client.get("/alerts/reports/").content.decode()
    assert "Your report subscriptions are saved." in page
    assert 'value="Building A" checked' in page

    client.post("/alerts/reports/", {"workshop": ["Building C"]})
    assert list(ReportSubscription.objects.values_list("workshop", flat=True)) == ["Building C"]
    client.post("/alerts/reports/", {})
    assert not ReportSubscription.objects.exists()


def test_a_workshop_one_may_not_see_is_refused_and_nothing_changes(client, factory):
    user = person("alice")
    ReportSubscription.objects.create(user=user, workshop="Building A")
    client.force_login(user)
    response = client.post("/alerts/reports/", {"workshop": ["Building B", "Atlantis"]})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Atlantis" in body
    assert 'value="Building B" checked' in body  # the ticks are kept for a second try
    assert list(ReportSubscription.objects.values_list("workshop", flat=True)) == ["Building A"]


def test_an_account_without_email_is_told_so(client, factory):
    client.force_login(person("bob", email=""))
    body = client.get("/alerts/reports/").content.decode()
    assert "Your account has no e-mail address" in body


def test_a_manager_edits_a_workshops_subscribers(client, factory):
    alice, bob = person("alice"), person("bob", email="")
    viewer = person("victor", "Viewer")
    client.force_login(person("boss"))
    body = client.get("/alerts/reports/").content.decode()
    assert "Everyone&#x27;s subscriptions" in body or "Everyone's subscriptions" in body
    assert f'name="user" value="{alice.pk}"' in body
    assert f'name="user" value="{viewer.pk}"' not in body  # may not read reviews

    url = "/alerts/reports/everyone/"
    response = client.post(url, {"workshop": "Building A", "user": [alice.pk, bob.pk]})
    assert response.status_code == 302
    assert set(
        ReportSubscription.objects.filter(workshop="Building A").values_list("user", flat=True)
    ) == {alice.pk, bob.pk}
    assert "no e-mail address" in client.get("/alerts/reports/").content.decode()

    for bad in (
        {"workshop": "Building A", "user": [viewer.pk]},
        {"workshop": "Building A", "user": ["x"]},
        {"workshop": "Building A", "user": [str(10**30)]},
        {"workshop": "Building A", "user": ["999999"]},
        {"workshop": "Atlantis", "user": [alice.pk]},
    ):
        response = client.post(url, bad)
        assert response.status_code == 400, bad
        assert 'class="error"' in response.content.decode()
    assert ReportSubscription.objects.filter(workshop="Building A").count() == 2

    client.post(url, {"workshop": "Building A", "user": [bob.pk]})
    assert list(ReportSubscription.objects.values_list("user", flat=True)) == [bob.pk]


def test_the_resend_button_queues_the_report_again(client, factory, clock):
    workshop = workshop_of("3×8")
    night = night_shift(clock)
    ReportSubscription.objects.create(user=person("alice"), workshop=workshop)
    run_shift_ends(night.end + DELAY)
    report = ShiftReport.objects.get(workshop=workshop, shift_start=night.start)
    Delivery.objects.filter(report=report).update(
        status=Delivery.Status.FAILED, last_error="mail server refused the recipient"
    )
    boss = person("boss")
    client.force_login(boss)

    body = client.get("/alerts/reports/").content.decode()
    assert "Recent reports" in body
    assert "mail server refused the recipient" in body
    assert 'action="/alerts/reports/sent/"' in body
    assert f'name="report" value="{report.pk}"' in body
    assert "Re-send" in body

    response = client.post("/alerts/reports/sent/", {"report": report.pk})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.resent_by == boss
    assert report.deliveries.filter(status=Delivery.Status.PENDING).count() == 1
    assert "queued again" in client.get("/alerts/reports/").content.decode()

    for bad in ("", "abc", "999999", "-1", str(10**30)):
        response = client.post("/alerts/reports/sent/", {"report": bad})
        assert response.status_code == 400
        assert "This report does not exist." in response.content.decode()
