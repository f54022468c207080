"""Operability: liveness and readiness, Prometheus metrics, structured logs, the admin page."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import Alert, AlertRule, Delivery
from audit.models import ActionAttempt, ActionKind
from audit.models import Outcome as ActionOutcome
from core.logs import ContextFilter, JsonFormatter, TextFormatter
from dashboard.metrics import websocket_connections
from screens import services as screens
from stations import jobs
from stations.jobs import run_job
from stations.models import LiveStatus, PollRecord, Station, SyncKind, SyncState
from stations.run_report import RunReport
from tests.lookups import present

ROOT = Path(__file__).resolve().parents[2]


def no_publish(event) -> None:
    pass


def poll(cwork, **kwargs):
    result = run_job("live", client=cwork, publish=no_publish, **kwargs)
    assert result.ran
    return result


# --- /healthz and /readyz ---------------------------------------------------------------------


def test_healthz_answers_without_the_database(client):
    # No django_db mark: any query would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_makes_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_is_ready_when_the_live_data_is_fresh(client, cwork, settings):
    poll(cwork)
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "redis", "live"}
    assert body["checks"]["live"]["ok"]
    if settings.REDIS_URL:
        assert body["checks"]["redis"] == {"ok": True}
    else:
        assert body["checks"]["redis"]["detail"] == "not configured"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_names_stale_live_data(client, cwork, settings):
    poll(cwork, now=timezone.now() - timedelta(seconds=10 * settings.POLL_INTERVAL))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["live"]
    assert "old" in body["checks"]["live"]["detail"]


@pytest.mark.django_db
def test_readyz_is_not_ready_before_any_poll(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["live"]


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(client, cwork, monkeypatch):
    poll(cwork)

    def unreachable() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "database" in body["failed"]
    assert "connection refused" in body["checks"]["database"]["detail"]


@pytest.mark.django_db
def test_readyz_names_an_unreachable_redis(client, cwork, settings):
    poll(cwork)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


def test_health_checks_skip_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/wall/").status_code == 301


def test_the_container_health_check_asks_for_liveness():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "http://127.0.0.1:8000/healthz" in compose


# --- /metrics ---------------------------------------------------------------------------------


def scrape(client, **kwargs) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            families.setdefault(sample.name, {})[key] = sample.value
    return families


def one(families, name: str, **labels) -> float:
    return families[name][tuple(sorted(labels.items()))]


@pytest.fixture
def supervisor():
    return get_user_model().objects.create_user("sup", password="x" * 12)


@pytest.mark.django_db
def test_metrics_read_the_polls_actions_and_screens(client, cwork, sim, clock, supervisor):
    for _ in range(3):
        poll(cwork)
        clock.advance(300)
    records = list(PollRecord.objects.filter(kind="live").order_by("started_at"))
    PollRecord.objects.create(
        kind="history", started_at=timezone.now(), duration=1.5, ok=False, error="boom"
    )
    SyncState.objects.create(kind="history", failures=2, retry_at=timezone.now() + timedelta(1))
    LiveStatus.objects.filter(pk=present(LiveStatus.objects.first()).pk).update(
        missing_since=timezone.now()
    )
    station = Station.objects.first()
    assert station is not None
    for i, outcome in enumerate(
        [ActionOutcome.OK, ActionOutcome.OK, ActionOutcome.REFUSED, ActionOutcome.FORBIDDEN]
    ):
        ActionAttempt.objects.create(
            user=supervisor,
            username=supervisor.username,
            started_at=timezone.now(),
            station=station,
            station_cwork_id=station.cwork_id,
            action=ActionKind.CHANGE_STATE,
            idempotency_key=f"k{i}",
            outcome=outcome,
        )
    screen, token = screens.create_screen("Hall A", {}, 30)
    screens.enrol(token)
    type(screen).objects.filter(pk=screen.pk).update(connected_sockets=2)

    families = scrape(client)
    assert one(families, "cwork_dashboard_metrics_database_up") == 1
    assert one(families, "cwork_dashboard_poll_runs", kind="live") == 3
    assert one(families, "cwork_dashboard_poll_failures", kind="live") == 0
    assert one(families, "cwork_dashboard_poll_runs", kind="history") == 1
    assert one(families, "cwork_dashboard_poll_failures", kind="history") == 1
    assert one(families, "cwork_dashboard_poll_consecutive_failures", kind="history") == 2
    assert one(families, "cwork_dashboard_poll_backing_off", kind="history") == 1
    assert one(families, "cwork_dashboard_poll_last_duration_seconds", kind="live") == (
        pytest.approx(records[-1].duration)
    )
    average = sum(r.duration for r in records) / 3
    assert one(
        families, "cwork_dashboard_poll_recent_duration_average_seconds", kind="live"
    ) == pytest.approx(average)
    assert one(
        families, "cwork_dashboard_poll_recent_duration_seconds", kind="live", quantile="1"
    ) == pytest.approx(max(r.duration for r in records))
    assert one(families, "cwork_dashboard_poll_stations_changed_last", kind="live") == (
        records[-1].stations_changed
    )
    assert one(
        families, "cwork_dashboard_poll_stations_changed_recent_average", kind="live"
    ) == pytest.approx(sum(r.stations_changed for r in records) / 3)
    assert records[0].stations_changed == 12  # the first poll: every station is new
    assert one(families, "cwork_dashboard_live_stale") == 0
    assert one(families, "cwork_dashboard_stations") == 12
    assert one(families, "cwork_dashboard_stations_not_reporting") == 1
    assert one(families, "cwork_dashboard_stations_stale") == 1
    assert one(families, "cwork_dashboard_actions_total", action="change_state", outcome="ok") == 2
    assert (
        one(families, "cwork_dashboard_actions_total", action="change_state", outcome="refused")
        == 1
    )
    assert one(families, "cwork_dashboard_action_failures_total", action="change_state") == 2
    assert one(families, "cwork_dashboard_screen_connections", screen="Hall A") == 2
    assert one(families, "cwork_dashboard_screens_online") == 1
    assert "cwork_dashboard_websocket_connections" in {
        f.name for f in text_string_to_metric_families(client.get("/metrics").content.decode())
    }


@pytest.mark.django_db
def test_metrics_count_open_alerts_and_undelivered_messages(client, cwork):
    poll(cwork)
    station = Station.objects.first()
    assert station is not None
    rule = AlertRule.objects.create(name="Down", condition="not_reporting")
    alert = Alert.objects.create(
        rule=rule, station=station, status="firing", since=timezone.now(), fired_at=timezone.now()
    )
    for status in ("pending", "failed", "failed", "sent"):
        Delivery.objects.create(
            alert=alert,
            kind="fired",
            channel="webhook",
            recipient="Teams",
            status=status,
            created_at=timezone.now(),
        )
    families = scrape(client)
    assert one(families, "cwork_dashboard_alerts_open", status="firing") == 1
    assert one(families, "cwork_dashboard_alerts_open", status="pending") == 0
    deliveries = "cwork_dashboard_alert_deliveries"
    assert one(families, deliveries, channel="webhook", status="failed") == 2
    assert one(families, deliveries, channel="email", status="failed") == 0


@pytest.mark.django_db
def test_metrics_say_when_the_live_data_is_stale(client, cwork, settings):
    poll(cwork, now=timezone.now() - timedelta(seconds=10 * settings.POLL_INTERVAL))
    families = scrape(client)
    assert one(families, "cwork_dashboard_live_stale") == 1
    assert one(families, "cwork_dashboard_stations_stale") == 12
    assert one(families, "cwork_dashboard_poll_last_success_age_seconds", kind="live") >= (
        9 * settings.POLL_INTERVAL
    )


@pytest.mark.django_db
def test_metrics_need_an_allowed_address_or_the_token(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.METRICS_TOKEN = "t" * 32
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + "t" * 32}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **bearer).status_code == 200
    wrong = {"HTTP_AUTHORIZATION": "Bearer " + "u" * 32}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **wrong).status_code == 403
    settings.METRICS_ALLOWED = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.2").status_code == 403


def test_metrics_access_settings_fail_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from dashboard.env import Env

    env = Env({"METRICS_ALLOWED": "10.0.0.0/8, ::1,127.0.0.1"})
    assert [str(n) for n in env.networks("METRICS_ALLOWED", [])] == [
        "10.0.0.0/8",
        "::1/128",
        "127.0.0.1/32",
    ]
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED"):
        Env({"METRICS_ALLOWED": "10.0.0.0/8,intranet"}).networks("METRICS_ALLOWED", [])


def test_the_socket_gauge_counts_open_sockets_per_process():
    from asgiref.sync import async_to_sync

    from dashboard.consumers import StationConsumer

    gauge = websocket_connections.labels("station")
    before = gauge._value.get()
    consumer = StationConsumer()
    consumer.channel_layer = type("Layer", (), {"group_add": _noop, "group_discard": _noop})()
    consumer.channel_name = "test"
    async_to_sync(consumer.join)(["g"])
    assert gauge._value.get() == before + 1
    async_to_sync(consumer.disconnect)(1000)
    async_to_sync(consumer.disconnect)(1000)  # twice: counted down once
    assert gauge._value.get() == before


async def _noop(*args) -> None:
    pass


@pytest.mark.django_db
def test_a_scrape_costs_a_few_queries(client, cwork, django_assert_max_num_queries):
    poll(cwork)
    with django_assert_max_num_queries(12):
        client.get("/metrics")


# --- logs -------------------------------------------------------------------------------------


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("stations.jobs")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_run_logs_its_job_run_id_and_station_as_json(cwork, monkeypatch, log_lines):
    def with_problems(client, *, now=None) -> RunReport:
        return RunReport(problems=["station 42: not in CWork's station list", "status record 3: x"])

    job = dataclasses.replace(jobs.JOBS[SyncKind.CATALOGUE], run=with_problems)
    monkeypatch.setitem(jobs.JOBS, SyncKind.CATALOGUE, job)
    run_job("catalogue", client=cwork, publish=no_publish)
    run_job("catalogue", client=cwork, publish=no_publish, now=timezone.now() + timedelta(1))
    lines = log_lines()
    assert len(lines) == 4
    for line in lines:
        assert set(line) >= {"time", "level", "logger", "message", "job", "poll_id"}
        assert line["job"] == "catalogue"
        assert line["level"] == "WARNING"
        assert line["logger"] == "stations.jobs"
    assert lines[0]["cwork_id"] == 42
    assert "cwork_id" not in lines[1]
    assert lines[0]["poll_id"] == lines[1]["poll_id"] != lines[2]["poll_id"]


def test_text_lines_carry_the_fields_and_nothing_when_there_are_none():
    formatter = TextFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert formatter.format(record) == "INFO x: hello"
    record.job, record.cwork_id = "live", 7
    assert formatter.format(record) == "INFO x: hello [job=live cwork_id=7]"


def test_logging_settings_choose_the_format(settings):
    assert settings.LOG_FORMAT in ("text", "json")
    assert settings.LOGGING["handlers"]["console"]["formatter"] == settings.LOG_FORMAT
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["context"]


# --- the admin page ---------------------------------------------------------------------------


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("ops", password="x" * 12, is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_admin_page_renders_with_cwork_down(staff, cwork, settings):
    poll(cwork)
    PollRecord.objects.create(
        kind="history", started_at=timezone.now(), duration=0.1, ok=False, error="CWork down"
    )
    settings.CWORK_URL = "http://127.0.0.1:9"  # nothing listens there
    index = staff.get("/admin/")
    assert "/admin/cwork-connection/" in index.content.decode()
    page = staff.get("/admin/cwork-connection/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "http://127.0.0.1:9" in body
    assert "plain HTTP" in body
    assert "CWork down" in body
    # Every job has its row and its name, the ingest's own and those other apps register.
    for kind, name in (("live", "live status"), ("kpis", "KPIs per shift")):
        row = body[body.index(f'class="job-{kind}"') :]
        assert name in row[: row.index("</tr>")]
    assert body.count("<tr>", body.index('id="poll-records"')) >= 2
    started = time.monotonic()
    checked = staff.post("/admin/cwork-connection/")
    assert checked.status_code == 200
    assert time.monotonic() - started < 25
    assert "FAILED" in checked.content.decode()


@pytest.mark.django_db
def test_the_admin_page_is_for_staff_only(client):
    assert client.get("/admin/cwork-connection/").status_code == 302
    user = get_user_model().objects.create_user("viewer", password="x" * 12)
    client.force_login(user)
    assert client.get("/admin/cwork-connection/").status_code == 302
    assert client.post("/admin/cwork-connection/").status_code == 302


@pytest.mark.django_db
def test_the_diagnostics_give_up_in_time(monkeypatch):
    from dashboard import admin_views

    monkeypatch.setattr(admin_views, "run_checks", lambda target: time.sleep(2))
    started = time.monotonic()
    checks, error = admin_views.diagnose(timeout=0.2)
    assert time.monotonic() - started < 1
    assert checks == []
    assert "did not finish" in error
