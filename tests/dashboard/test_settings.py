"""Configuration errors stop the start with a message that names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import Env

ROOT = Path(__file__).resolve().parents[2]


def clean_environment(data_dir: Path) -> dict[str, str]:
    """Only what a process needs to run: none of the dashboard's own settings leak in."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
    }


def start(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh process, as daphne or Celery would at start-up."""
    env = clean_environment(tmp_path)
    env.update(environ)
    code = "import django; django.setup(); from django.conf import settings; print('ok')"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_with_nothing_set_it_starts_embedded(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_without_a_secret_key_says_so(tmp_path):
    result = start(tmp_path, DATABASE_URL="postgres://u@db/dashboard", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_needs_cwork_and_host_names(tmp_path):
    key = "k" * 40
    result = start(tmp_path, DATABASE_URL="postgres://u@db/d", SECRET_KEY=key, CWORK_URL="")
    assert "ALLOWED_HOSTS must be set" in result.stderr
    result = start(
        tmp_path, DATABASE_URL="postgres://u@db/d", SECRET_KEY=key, ALLOWED_HOSTS="wall.local"
    )
    assert "CWORK_URL must be set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("POLL_INTERVAL", "fast", "a number of seconds"),
        ("POLL_INTERVAL", "0", "at least 0.1"),
        ("CWORK_VERIFY_TLS", "maybe", "true or false"),
        ("TIME_ZONE", "Paris", "IANA time zone"),
        ("CWORK_URL", "cwork.local:8081", "a URL starting with http or https"),
        ("DATABASE_URL", "mysql://db/x", "postgres"),
        ("CWORK_CA_FILE", "/nonexistent/ca.pem", "readable file"),
        ("HISTORY_SYNC_BATCH", "-3", "at least 1"),
    ],
)
def test_a_malformed_value_names_the_variable_and_what_is_expected(tmp_path, name, value, expected):
    result = start(tmp_path, **{name: value})
    assert result.returncode != 0
    assert f"{name}={value!r} is not valid" in result.stderr
    assert expected in result.stderr


def test_env_helpers_read_typed_values():
    env = Env({"A": " 2.5 ", "B": "yes", "C": "a, b,,c", "D": "  "})
    assert env.seconds("A", 1.0) == 2.5
    assert env.flag("B", False) is True
    assert env.comma_list("C", []) == ["a", "b", "c"]
    assert env.text("D", "default") == "default"  # blank counts as unset
    with pytest.raises(ImproperlyConfigured, match="D must be set"):
        env.text("D", required=True)
