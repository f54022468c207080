"""The embedded run's set-up: demo login, scheduler, and the whole thing as one process."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from alerts.messages import absolute_url
from dashboard import embedded
from dashboard.embedded import DEMO_USER, demo_login, served_url
from dashboard.schedule import Entry, beat_schedule
from dashboard.scheduler import EmbeddedScheduler
from devtools.processes import free_port
from tests.dashboard.test_settings import clean_environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_first_run_creates_a_demo_user_and_shows_its_password(tmp_path):
    first = demo_login(tmp_path)
    assert first.username == DEMO_USER
    user = get_user_model().objects.get(username=DEMO_USER)
    assert user.check_password(first.password)
    assert demo_login(tmp_path) == first  # shown again on the next start

    user.set_password("a-new-secret-password")
    user.save()
    assert demo_login(tmp_path).password == ""  # no longer ours to show


@pytest.mark.django_db
def test_no_demo_user_is_added_beside_real_users(tmp_path):
    get_user_model().objects.create_user("supervisor", password="x" * 12)
    assert demo_login(tmp_path).username == ""
    assert not get_user_model().objects.filter(username=DEMO_USER).exists()


def test_the_served_address_as_a_link(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "shopfloor-pc")
    assert served_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert served_url("wall.plant.local", 8000) == "http://wall.plant.local:8000"
    assert served_url("::1", 8000) == "http://[::1]:8000"
    # Every interface is no address to open: the machine's name stands in.
    assert served_url("0.0.0.0", 8000) == "http://shopfloor-pc:8000"  # noqa: S104
    assert served_url("::", 80) == "http://shopfloor-pc"


def run_embedded(monkeypatch, settings, host: str, port: int) -> tuple[dict[str, str], str]:
    """``runembedded`` up to daphne's start: where links point once it serves, and what it
    printed (daphne, the scheduler and the simulator are stood in for)."""
    seen: dict[str, str] = {}

    class Server:
        def __init__(self, **kwargs: object) -> None: ...

        def run(self) -> None:
            seen["link"] = absolute_url("/wall/")

    class Scheduler:
        def start(self) -> None: ...

        def stop(self) -> None: ...

    from dashboard.management.commands import runembedded

    # Embedded, whatever settings the suite runs with (CI's pass with production ones too).
    settings.PRODUCTION = False
    monkeypatch.setattr("daphne.server.Server", Server)
    monkeypatch.setattr(runembedded, "EmbeddedScheduler", Scheduler)
    monkeypatch.setattr("core.realtime.use_event_loop", lambda loop: None)
    monkeypatch.setattr(embedded, "prepare_database", lambda: None)
    monkeypatch.setattr(embedded, "start_simulator", lambda: None)
    monkeypatch.setattr(socket, "gethostname", lambda: "shopfloor-pc")
    out = io.StringIO()
    call_command("runembedded", host=host, port=port, stdout=out, no_color=True)
    return seen, out.getvalue()


@pytest.mark.django_db
def test_unset_site_url_follows_where_runembedded_serves(monkeypatch, settings):
    settings.SITE_URL, settings.SITE_URL_IS_SET = "http://localhost:8000", False
    seen, output = run_embedded(monkeypatch, settings, "192.168.1.20", 8123)
    assert seen["link"] == "http://192.168.1.20:8123/wall/"
    assert "Links in e-mails: http://192.168.1.20:8123\n" in output

    settings.SITE_URL = "http://localhost:8000"
    seen, output = run_embedded(monkeypatch, settings, "0.0.0.0", 8000)  # noqa: S104
    assert seen["link"] == "http://shopfloor-pc:8000/wall/"
    assert "http://shopfloor-pc:8000 (this machine's name: set SITE_URL" in output


@pytest.mark.django_db
def test_a_site_url_that_is_set_is_kept(monkeypatch, settings):
    settings.SITE_URL, settings.SITE_URL_IS_SET = "https://wall.plant.example", True
    seen, output = run_embedded(monkeypatch, settings, "0.0.0.0", 8000)  # noqa: S104
    assert seen["link"] == "https://wall.plant.example/wall/"
    assert "Links in e-mails: https://wall.plant.example\n" in output


def test_every_beat_entry_expires_within_its_interval():
    schedule = beat_schedule()
    assert {"stations.live", "stations.catalogue", "stations.history", "stations.orders"} <= set(
        schedule
    )
    for entry in schedule.values():
        assert entry["options"]["expires"] <= entry["schedule"]


def test_every_beat_entry_is_a_task_the_worker_knows():
    from dashboard.celery import app

    app.loader.import_default_modules()
    missing = set(beat_schedule()) - set(app.tasks)
    assert not missing, f"beat would send tasks no worker runs: {sorted(missing)}"


def test_the_embedded_scheduler_never_runs_an_entry_twice_at_once():
    """An entry that takes longer than its interval runs again once it is done, back to
    back: never two at once."""
    running = 0
    overlaps = runs = 0
    lock = threading.Lock()
    ended: list[float] = []
    started: list[float] = []
    four_done = threading.Event()

    def slow() -> None:
        nonlocal running, overlaps, runs
        with lock:
            running += 1
            runs += 1
            overlaps += running > 1
            started.append(time.monotonic())
        time.sleep(0.15)  # the work: three intervals long
        with lock:
            running -= 1
            ended.append(time.monotonic())
            if len(ended) >= 4:
                four_done.set()

    scheduler = EmbeddedScheduler([Entry("slow", 0.05, slow)])
    scheduler.start()
    try:
        assert four_done.wait(timeout=30), f"only {runs} runs in 30 s"
    finally:
        scheduler.stop()
    assert overlaps == 0
    # Each run began after the one before it had ended.
    assert all(start >= end for start, end in zip(started[1:], ended, strict=False))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_make_run_serves_live_data_from_the_simulator(tmp_path):
    """What ``make run`` starts: daphne, the scheduler and the simulator in one process."""
    web, cwork = free_port(), free_port()
    env = clean_environment(tmp_path)
    env.update(SIMULATOR_PORT=str(cwork), POLL_INTERVAL="0.5", SIMULATOR_STATIONS="6")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runembedded", "--port", str(web)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        health: dict = {}
        while time.monotonic() < deadline:
            try:
                status, body = get(f"http://127.0.0.1:{web}/health")
            except OSError:
                time.sleep(0.3)
                continue
            health = json.loads(body)
            if status == 200 and health["status"] == "ok":
                break
            time.sleep(0.3)
        assert health.get("status") == "ok", health
        status, body = get(f"http://127.0.0.1:{web}/login/")
        assert status == 200
        assert 'name="password"' in body
        status, body = get(f"http://127.0.0.1:{cwork}/")  # the simulator answers too
        assert status in {401, 404}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{web}/" in output
    assert "log in as demo with password" in output
    assert "curl -s -u demo-key:" in output
    assert f"Links in e-mails: http://127.0.0.1:{web}\n" in output
