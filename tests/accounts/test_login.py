"""Failed logins are throttled per user name and per address; deployments are HTTPS-only."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts import throttle

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    at = [1_800_000_000.0]
    monkeypatch.setattr(throttle, "now", lambda: at[0])
    return at


def login(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


@pytest.mark.django_db
def test_the_sixth_failure_is_refused_until_the_window_has_passed(client, clock, django_user_model):
    django_user_model.objects.create_user("alice", password=PASSWORD)
    for _ in range(5):
        response = login(client, "alice", "wrong password")
        assert response.status_code == 200
        assert "The user name or the password is wrong." in response.content.decode()
        clock[0] += 10

    refused = login(client, "Alice", PASSWORD)  # the right password, too late
    body = refused.content.decode()
    assert refused.status_code == 429
    assert "Too many failed attempts. Try again in 15 minutes." in body
    assert "The user name or the password is wrong." not in body
    assert "_auth_user_id" not in client.session

    clock[0] += 14 * 60
    assert "Try again in 1 minute." in login(client, "alice", PASSWORD).content.decode()

    clock[0] += 60
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@pytest.mark.django_db
def test_a_successful_login_clears_the_user_names_failures(client, clock, django_user_model):
    django_user_model.objects.create_user("bob", password=PASSWORD)
    for _ in range(4):
        login(client, "bob", "wrong password")
    assert login(client, "bob", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "bob", "wrong password").status_code == 200
    assert login(client, "bob", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_one_address_trying_many_user_names_is_refused(client, clock, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("a", "b", "c"):
        assert login(client, name, "guess", address="10.0.0.9").status_code == 200
    assert login(client, "d", "guess", address="10.0.0.9").status_code == 429
    assert login(client, "d", "guess", address="10.0.0.10").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client, clock, django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    url = reverse("admin:login")
    for _ in range(5):
        client.post(url, {"username": "root", "password": "nope"}, REMOTE_ADDR="10.0.0.2")
    response = client.post(url, {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2")
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_production_configuration_passes_the_deployment_checks(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": "postgres://x@y/z",
        "SECRET_KEY": secrets.token_urlsafe(50)[:50],
        "ALLOWED_HOSTS": "wall.example",
        "CWORK_URL": "https://cwork.example",
        "CWORK_API_KEY": "k",
        # Behind the HTTPS proxy, with the links in e-mails pointing at it.
        "SITE_URL": "https://wall.example",
        "TRUSTED_PROXIES": "10.0.0.5",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
