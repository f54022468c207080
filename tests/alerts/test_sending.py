"""Queued alert and report messages reach real mail and webhook servers, failures are retried
with back-off and stay visible, and nothing is sent twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache

from alerts.models import Alert, AlertRule, Condition, Delivery, EscalationLevel, Webhook
from alerts.outbox import queue_for_alert, queue_message, queue_test
from alerts.sending import BACKOFF, MAX_ATTEMPTS, deliver_due, send_now
from core.locks import exclusive
from stations.jobs import run_job
from stations.models import Station
from tests.alerts.servers import HOST, HttpReceiver, SmtpServer, free_port
from tests.dashboard.test_settings import ROOT, clean_environment
from tests.lookups import present

pytestmark = pytest.mark.django_db

SECRET = "whsec-0123456789abcdef"
TOKEN = "T0KEN-in-the-query-4242"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def _no_lock_left():
    """The sender's lock lives in the shared cache: no test inherits one."""
    cache.delete("lock:alerts:deliver")
    yield
    cache.delete("lock:alerts:deliver")


@pytest.fixture
def smtp(settings):
    server = SmtpServer().start()
    point_mail_at(settings, server.port)
    yield server
    server.stop()


def point_mail_at(settings, port: int, user: str = "", password: str = "") -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = HOST, port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = user, password
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Dashboard <dashboard@plant.example>"


@pytest.fixture
def receiver():
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def station(sim, cwork, clock) -> Station:
    run_job("catalogue", client=cwork, now=clock(), publish=lambda e: None)
    return present(Station.objects.order_by("name").first())


def fire(station: Station, clock, *, emails: str = "", webhooks=(), name="Stopped") -> Alert:
    """A firing alert on ``station`` whose level 1 was told: its deliveries queued."""
    rule = AlertRule.objects.create(
        name=name, condition=Condition.STOP, stop_category="any", minutes=5
    )
    level = EscalationLevel.objects.create(rule=rule, level=1, emails=emails)
    level.webhooks.set(webhooks)
    alert = Alert.objects.create(
        rule=rule,
        station=station,
        status=Alert.Status.FIRING,
        since=clock() - timedelta(minutes=7),
        fired_at=clock(),
        level=1,
        summary="stopped (failure)",
    )
    queue_for_alert(alert, Delivery.Kind.FIRED, [level], clock())
    return alert


def hook(receiver: HttpReceiver, name: str, fmt: str = "json", **fields) -> Webhook:
    return Webhook.objects.create(
        name=name, url=f"{receiver.url}/{name}?token={TOKEN}", format=fmt, **fields
    )


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- e-mail -----------------------------------------------------------------------------------


def test_an_alert_email_arrives_by_smtp_with_subject_text_and_link(smtp, station, clock):
    alert = fire(station, clock, emails="lead@plant.example")

    assert deliver_due(now=clock()) == 1

    [mail] = smtp.received
    assert mail.recipients == ["lead@plant.example"]
    assert mail.sender == "dashboard@plant.example"
    assert mail.message["Subject"] == f"Stopped on {station.name}"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.message.get_body(("plain",)).get_content()
    assert f"{station.name}: stopped (failure)" in text
    assert f"/stations/{station.pk}/" in text
    html = mail.message.get_body(("html",)).get_content()
    assert f'href="http://localhost:8000/stations/{station.pk}/"' in html
    delivery = alert.deliveries.get()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("sent", 1, clock())
    assert delivery.last_error == ""


def test_a_report_email_carries_its_attachment(smtp, clock):
    sheet = bytes(range(256)) * 4  # any bytes, as a workbook's are
    payload = {
        "subject": "Shift report: Turning, morning",
        "text": "The morning shift in Turning.",
        "attachments": [
            {
                "filename": "turning-morning.xlsx",
                "mimetype": XLSX,
                "content_base64": base64.b64encode(sheet).decode(),
            }
        ],
    }
    queue_message(Delivery.Kind.REPORT, ["manager@plant.example"], payload, clock())

    assert deliver_due(now=clock()) == 1

    [mail] = smtp.received
    assert mail.message["Subject"] == "Shift report: Turning, morning"
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == "turning-morning.xlsx"
    assert attachment.get_content_type() == XLSX
    assert attachment.get_content() == sheet


def test_an_address_the_server_refuses_fails_alone(smtp, station, clock):
    smtp.unknown = {"gone@plant.example"}
    alert = fire(station, clock, emails="gone@plant.example\nlead@plant.example")

    assert deliver_due(now=clock()) == 1

    outcome = {d.recipient: (d.status, d.last_error) for d in alert.deliveries.all()}
    assert outcome == {
        "gone@plant.example": (
            "pending",
            "The mail server refused the address "
            "(gone@plant.example: 550 5.1.1 No such user here).",
        ),
        "lead@plant.example": ("sent", ""),
    }
    assert [mail.recipients for mail in smtp.received] == [["lead@plant.example"]]


def test_a_dead_mail_server_records_a_plain_failure_and_a_next_attempt(
    settings, station, clock, caplog
):
    port = free_port()
    point_mail_at(settings, port, user="alerts", password="not-to-be-seen-9")
    alert = fire(station, clock, emails="lead@plant.example")

    with caplog.at_level(logging.WARNING, logger="alerts.sending"):
        assert deliver_due(now=clock()) == 0

    delivery = alert.deliveries.get()
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == clock() + BACKOFF[0]
    assert delivery.last_error.startswith(f"The mail server {HOST}:{port} could not be reached (")
    assert "ConnectionRefusedError" in delivery.last_error
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"delivery {delivery.pk} to lead@plant.example failed (attempt 1 of 6)" in (
        record.getMessage()
    )
    assert "not-to-be-seen-9" not in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_refused_login_says_so_without_the_password(settings, station, clock, caplog):
    server = SmtpServer(password="the-right-one").start()
    try:
        point_mail_at(settings, server.port, user="alerts", password="a-wrong-password")
        alert = fire(station, clock, emails="lead@plant.example")
        with caplog.at_level(logging.DEBUG):
            assert deliver_due(now=clock()) == 0
    finally:
        server.stop()

    delivery = alert.deliveries.get()
    assert delivery.last_error.startswith("The mail server refused the login (535 ")
    assert not server.received
    assert "a-wrong-password" not in caplog.text + delivery.last_error


def test_without_a_mail_server_production_deliveries_fail_visibly(settings, station, clock):
    settings.EMAIL_BACKEND = "alerts.sending.NoMailServerBackend"
    alert = fire(station, clock, emails="lead@plant.example")

    assert deliver_due(now=clock()) == 0

    delivery = alert.deliveries.get()
    assert delivery.status == "pending"
    assert delivery.last_error == "No mail server is set: EMAIL_HOST is empty."


def test_the_embedded_default_writes_mails_where_a_demo_can_read_them(
    settings, station, clock, tmp_path
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "outbox"
    fire(station, clock, emails="lead@plant.example")

    assert deliver_due(now=clock()) == 1

    [written] = (tmp_path / "outbox").iterdir()
    assert f"Subject: Stopped on {station.name}" in written.read_text()


def mail_settings(tmp_path, **environ: str) -> subprocess.CompletedProcess[str]:
    """The mail settings a fresh process reads from ``environ``."""
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST or '-', s.EMAIL_PORT, s.EMAIL_FILE_PATH)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean_environment(tmp_path), **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRODUCTION = {"DATABASE_URL": "postgres://u@db/d", "SECRET_KEY": "k" * 40, "ALLOWED_HOSTS": "x"}


@pytest.mark.parametrize(
    ("environ", "backend", "host", "port"),
    [
        ({}, "django.core.mail.backends.filebased.EmailBackend", "-", "25"),
        (
            {"EMAIL_HOST": "smtp.plant.example", "EMAIL_USE_TLS": "true"},
            "django.core.mail.backends.smtp.EmailBackend",
            "smtp.plant.example",
            "587",
        ),
        (
            {"EMAIL_HOST": "smtp.plant.example", "EMAIL_USE_SSL": "on"},
            "django.core.mail.backends.smtp.EmailBackend",
            "smtp.plant.example",
            "465",
        ),
        (
            {**PRODUCTION, "CWORK_URL": "https://cwork:8443", "CWORK_API_KEY": "k"},
            "alerts.sending.NoMailServerBackend",
            "-",
            "25",
        ),
    ],
    ids=["embedded", "starttls", "implicit-tls", "production-without-server"],
)
def test_the_mail_settings_follow_the_environment(tmp_path, environ, backend, host, port):
    result = mail_settings(tmp_path, **environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, host, port, str(tmp_path / "outbox")]


def test_tls_and_ssl_together_stop_the_start_with_a_reason(tmp_path):
    result = mail_settings(tmp_path, EMAIL_USE_TLS="yes", EMAIL_USE_SSL="yes")
    assert result.returncode != 0
    assert "EMAIL_USE_TLS and EMAIL_USE_SSL are both on" in result.stderr


# --- webhooks ---------------------------------------------------------------------------------


def test_each_webhook_format_gets_the_body_its_receiver_expects(receiver, station, clock):
    hooks = [
        hook(receiver, "slack", "slack"),
        hook(receiver, "teams", "teams"),
        hook(receiver, "plain"),
    ]
    alert = fire(station, clock, webhooks=hooks, name="Stop > 5 min & more")

    assert deliver_due(now=clock()) == 3

    by_path = {request.path: request for request in receiver.requests}
    ids = {d.recipient: str(d.pk) for d in alert.deliveries.all()}
    for name in ("slack", "teams", "plain"):
        request = by_path[f"/{name}"]
        assert request.headers["X-Delivery-Id"] == ids[name]
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert "X-Signature-256" not in request.headers
    subject = f"Stop > 5 min & more on {station.name}"

    slack = json.loads(by_path["/slack"].body)
    assert list(slack) == ["text"]
    assert slack["text"].startswith(f"*Stop &gt; 5 min &amp; more on {station.name}*\n")

    teams = json.loads(by_path["/teams"].body)
    assert teams["@type"] == "MessageCard"
    assert teams["@context"] == "https://schema.org/extensions"
    assert teams["summary"] == teams["title"] == subject
    assert teams["themeColor"] == "D13438"
    assert f"{station.name}: stopped (failure)" in teams["text"]
    [action] = teams["potentialAction"]
    assert action["targets"][0]["uri"].endswith(f"/stations/{station.pk}/")

    plain = json.loads(by_path["/plain"].body)
    assert set(plain) == {"subject", "text", "event"}
    assert plain["subject"] == subject
    assert plain["event"]["kind"] == "fired"
    assert plain["event"]["alert_id"] == alert.pk
    assert plain["event"]["station_id"] == station.cwork_id


def test_a_signed_webhook_verifies_with_its_secret_and_not_another(receiver, station, clock):
    fire(station, clock, webhooks=[hook(receiver, "signed", secret=SECRET)])

    assert deliver_due(now=clock()) == 1

    [request] = receiver.requests
    header = request.headers["X-Signature-256"]
    assert hmac.compare_digest(header, signed(SECRET, request.body))
    assert not hmac.compare_digest(header, signed("another-secret", request.body))
    assert not hmac.compare_digest(header, signed(SECRET, request.body + b" "))


def test_a_500_is_retried_after_the_back_off_and_then_sent(receiver, station, clock):
    receiver.statuses = [500]
    alert = fire(station, clock, webhooks=[hook(receiver, "ops")])

    assert deliver_due(now=clock()) == 0
    delivery = alert.deliveries.get()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith(
        "The webhook's server answered HTTP 500 Internal Server Error."
    )
    assert delivery.next_attempt_at == clock() + timedelta(seconds=30)

    assert deliver_due(now=clock() + timedelta(seconds=29)) == 0
    assert len(receiver.requests) == 1  # not before its time

    assert deliver_due(now=clock() + timedelta(seconds=30)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert delivery.sent_at == clock() + timedelta(seconds=30)
    first, second = receiver.requests
    assert first.body == second.body  # the same message, retried as it was
    assert first.headers["X-Delivery-Id"] == second.headers["X-Delivery-Id"]


def test_a_refusal_gives_the_status_and_what_the_receiver_said(receiver, station, clock):
    receiver.statuses = [400]
    receiver.answer = b"invalid_payload"
    alert = fire(station, clock, webhooks=[hook(receiver, "slack", "slack")])

    deliver_due(now=clock())

    delivery = alert.deliveries.get()
    assert delivery.last_error == (
        "The webhook refused the message: HTTP 400 Bad Request. It said: “invalid_payload”."
    )
    assert delivery.status == "pending"  # retried too: a receiver's setup can be fixed


def test_a_webhook_that_does_not_answer_times_out_and_is_retried(
    settings, receiver, station, clock
):
    settings.ALERT_WEBHOOK_TIMEOUT = 0.3
    receiver.hang = True
    alert = fire(station, clock, webhooks=[hook(receiver, "slow")])

    assert deliver_due(now=clock()) == 0

    delivery = alert.deliveries.get()
    assert delivery.last_error == "The webhook did not answer within 0.3 s."
    assert delivery.next_attempt_at == clock() + BACKOFF[0]


def test_after_the_last_attempt_the_delivery_is_failed(station, clock, caplog):
    down = Webhook.objects.create(
        name="down", url=f"http://{HOST}:{free_port()}/hook?token={TOKEN}", format="json"
    )
    alert = fire(station, clock, webhooks=[down])
    delivery = alert.deliveries.get()

    moments: list[datetime] = []
    with caplog.at_level(logging.WARNING, logger="alerts.sending"):
        while delivery.status == "pending":
            moments.append(present(delivery.next_attempt_at))
            assert deliver_due(now=delivery.next_attempt_at) == 0
            delivery.refresh_from_db()

    assert delivery.status == "failed"
    assert delivery.attempts == MAX_ATTEMPTS == 6
    assert delivery.next_attempt_at is None
    assert delivery.last_error.startswith("The webhook could not be reached (ConnectError: ")
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert gaps == list(BACKOFF)
    assert "failed after 6 attempt(s), given up" in caplog.records[-1].getMessage()
    assert deliver_due(now=clock() + timedelta(days=1)) == 0


def test_a_webhook_disabled_or_deleted_since_queueing_fails_with_that_reason(
    receiver, station, clock
):
    muted, removed = hook(receiver, "muted"), hook(receiver, "removed")
    alert = fire(station, clock, webhooks=[muted, removed])
    Webhook.objects.filter(pk=muted.pk).update(enabled=False)
    removed.delete()

    assert deliver_due(now=clock()) == 0

    outcome = {d.recipient: (d.status, d.last_error) for d in alert.deliveries.all()}
    assert outcome == {
        "muted": ("failed", "The webhook “muted” is disabled."),
        "removed": ("failed", "The webhook “removed” was deleted after this message was queued."),
    }
    assert not receiver.requests


def test_a_webhooks_url_token_and_secret_are_never_logged_nor_kept(
    receiver, station, clock, caplog
):
    receiver.statuses = [404]
    receiver.answer = f"no such hook {TOKEN}".encode()
    gone = hook(receiver, "gone", secret=SECRET)
    down = Webhook.objects.create(
        name="down", url=f"http://{HOST}:{free_port()}/x?token={TOKEN}", format="json"
    )
    alert = fire(station, clock, webhooks=[gone, down])

    with caplog.at_level(logging.DEBUG):
        deliver_due(now=clock())

    kept = " ".join(alert.deliveries.values_list("last_error", flat=True))
    assert "HTTP 404" in kept
    assert "could not be reached" in kept
    for secret in (TOKEN, SECRET, "token="):
        assert secret not in caplog.text
        assert secret not in kept


# --- one sender at a time ---------------------------------------------------------------------


def test_no_run_while_another_holds_the_lock(receiver, station, clock):
    alert = fire(station, clock, webhooks=[hook(receiver, "ops")])

    with exclusive("alerts:deliver", ttl=60) as held:
        assert held
        assert deliver_due(now=clock()) == 0

    assert not receiver.requests
    assert alert.deliveries.get().attempts == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_delivery_once(receiver, station, clock):
    receiver.delay = 0.05
    hooks = [hook(receiver, f"line-{n}") for n in range(4)]
    alert = fire(station, clock, webhooks=hooks)
    counts: list[int] = []

    def run() -> None:
        counts.append(deliver_due(now=clock()))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 4
    sent_ids = sorted(request.headers["X-Delivery-Id"] for request in receiver.requests)
    assert sent_ids == sorted(str(pk) for pk in alert.deliveries.values_list("pk", flat=True))
    assert set(alert.deliveries.values_list("status", "attempts")) == {("sent", 1)}


def test_a_delivery_one_sender_sent_is_not_sent_again_by_another(receiver, station, clock):
    alert = fire(station, clock, webhooks=[hook(receiver, "ops")])
    read_before = alert.deliveries.get()  # as a "send test" click read it

    assert deliver_due(now=clock()) == 1
    [result] = send_now([read_before])

    assert len(receiver.requests) == 1
    assert (result.status, result.attempts) == ("sent", 1)


# --- send test --------------------------------------------------------------------------------


def test_send_now_reports_each_delivery(smtp, receiver, station, clock):
    receiver.statuses = [500]
    rule = AlertRule.objects.create(name="Coolant", condition=Condition.ALARM, alarm_code="C1")
    level = EscalationLevel.objects.create(rule=rule, level=1, emails="lead@plant.example")
    level.webhooks.set([hook(receiver, "ops", "teams")])
    queue_test(rule, clock())

    results = send_now(rule.deliveries.order_by("channel"))

    outcome = {(d.channel, d.status, d.attempts) for d in results}
    assert outcome == {("email", "sent", 1), ("webhook", "pending", 1)}
    [failed] = [d for d in results if d.channel == "webhook"]
    assert "HTTP 500" in failed.last_error
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at > clock()
    [mail] = smtp.received
    assert mail.message["Subject"] == "Test: Coolant"
    [request] = receiver.requests
    assert json.loads(request.body)["themeColor"] == "0078D4"
    assert rule.deliveries.filter(status="sent").count() == 1  # what the page reads back
