from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from alerts.engine import forget_cached
from cwork.simulator import ManualClock, Simulator
from dashboard.languages import forget_languages_in_use
from kpis.mapping import forget_state_buckets
from stations.events import StationsChanged


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Tests do not run collectstatic: serve static files from their sources, as embedded."""
    settings.SERVESTATIC_USE_FINDERS = True
    # The suite also runs with production settings (CI's PostgreSQL pass), over plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    settings.STATIC_ROOT = None
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True, scope="session")
def _compiled_translations() -> None:
    """A plain ``pytest`` on a fresh clone reads French like ``make test`` does: the catalogues
    are compiled first when a ``.mo`` is missing or older than its ``.po``."""
    from dashboard.management.commands.compiletranslations import compile_catalogues

    for root in settings.LOCALE_PATHS:
        for po_path in Path(root).glob("*/LC_MESSAGES/*.po"):
            mo_path = po_path.with_suffix(".mo")
            if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
                compile_catalogues([Path(root)])
                break


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings):
    """Tests create and log in hundreds of users: the production hasher's million rounds cost a
    third of a second each. Processes the tests start keep the production hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_memos():
    """Each test's rules and languages are its own: the per-process memos start over (a
    test database is emptied without signals)."""
    forget_cached()
    forget_languages_in_use()
    forget_state_buckets()


START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday morning, mid-shift


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    return Simulator(stations=12, seed=7, clock=clock, history_days=3)


@pytest.fixture
def cwork(sim: Simulator):
    with sim.client(retries=0) as cwork:
        yield cwork


class Published(list[StationsChanged]):
    """The events a run published, in order."""


@pytest.fixture
def published() -> Published:
    return Published()
