from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings

from core import memo
from dashboard.languages import forget_languages_in_use
from simulator import ManualClock, Simulator
from stations.events import StationsChanged
from tests.workers import isolate_worker


def pytest_configure(config: pytest.Config) -> None:
    isolate_worker(settings)


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
def _no_task_worker(settings):
    """No Celery worker takes tasks beside the suite, even in CI's pass with Redis: a job
    asked for now (``core.queue.run_soon``) runs in its caller, as with no broker. The tests
    of the queue itself set this back."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _quick_password_hashing(settings):
    """Tests create and log in hundreds of users: the production hasher's million rounds cost a
    third of a second each. Processes the tests start keep the production hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _roles_present(request: pytest.FixtureRequest) -> None:
    """A transactional test ends by emptying the database, taking the roles that migrations
    made (``accounts/migrations/0002_roles``) with it (Django's permissions come back with the
    flush's post-migrate). A test that uses the database finds them put back, so none depends
    on running before a transactional one: test order changes under pytest-xdist."""
    if request.node.get_closest_marker("django_db") is None:
        if "transactional_db" in request.fixturenames:
            request.getfixturevalue("transactional_db")
        elif "db" in request.fixturenames:
            request.getfixturevalue("db")
        else:
            return
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import Profile
    from accounts.roles import ROLE_PERMISSIONS

    if Group.objects.filter(name__in=ROLE_PERMISSIONS).count() == len(ROLE_PERMISSIONS):
        return
    profile_type = ContentType.objects.get_for_model(Profile)
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type=profile_type, codename__in=codenames)
        )


@pytest.fixture(autouse=True)
def _fresh_memos():
    """Each test's rules, mapping, figures, groups and languages are its own: every memo of
    the process starts empty (a test database is emptied without signals), and so does the
    shared cache's list of languages in use."""
    memo.clear_all()
    forget_languages_in_use()


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
