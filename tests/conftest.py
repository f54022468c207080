from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
