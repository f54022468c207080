"""The start-up warnings: SITE_URL left at its default, HTTPS redirects behind no trusted proxy."""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import sys

from celery.signals import worker_ready

from dashboard.checks import https_proxy_check, site_url_check
from tests.dashboard.test_settings import ROOT, clean_environment
from tests.lookups import present

#: A production configuration, less SITE_URL and TRUSTED_PROXIES.
PRODUCTION = {
    "DATABASE_URL": "postgres://x@y/z",
    "SECRET_KEY": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",
    "ALLOWED_HOSTS": "wall.example",
    "CWORK_URL": "https://cwork.example",
    "CWORK_API_KEY": "k",
}


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_production_warns_when_site_url_is_left_at_its_default(settings):
    settings.PRODUCTION, settings.SITE_URL_IS_SET = True, False
    (warning,) = site_url_check()
    assert warning.id == "dashboard.W001"
    assert settings.SITE_URL in warning.msg
    assert "SITE_URL" in present(warning.hint)
    settings.SITE_URL_IS_SET = True
    assert site_url_check() == []
    settings.PRODUCTION, settings.SITE_URL_IS_SET = False, False  # runembedded derives it
    assert site_url_check() == []


def test_an_https_redirect_behind_no_trusted_proxy_is_warned(settings):
    settings.SECURE_SSL_REDIRECT, settings.TRUSTED_PROXIES = True, []
    assert ids(https_proxy_check()) == ["dashboard.W002"]
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.5/32")]
    assert https_proxy_check() == []
    settings.SECURE_SSL_REDIRECT, settings.TRUSTED_PROXIES = False, []
    assert https_proxy_check() == []


def deploy_check(tmp_path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={**clean_environment(tmp_path), **PRODUCTION, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_shows_both_warnings_and_neither_once_set(tmp_path):
    result = deploy_check(tmp_path)
    assert result.returncode == 0, result.stderr  # warnings do not stop a deployment
    output = result.stdout + result.stderr
    assert "(dashboard.W001) SITE_URL is not set" in output
    assert "point at http://localhost:8000" in output
    assert "(dashboard.W002) SECURE_SSL_REDIRECT is on but TRUSTED_PROXIES is empty" in output
    result = deploy_check(tmp_path, SITE_URL="https://wall.example", TRUSTED_PROXIES="10.0.0.5")
    assert "dashboard.W0" not in result.stdout + result.stderr


def test_the_worker_logs_the_warnings_once_ready(settings, caplog):
    settings.PRODUCTION, settings.SITE_URL_IS_SET = True, False
    with caplog.at_level(logging.WARNING, logger="dashboard.checks"):
        worker_ready.send(sender=None)
    assert "(dashboard.W001) SITE_URL is not set" in caplog.text
