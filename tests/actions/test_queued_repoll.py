"""The re-read after an action is queued to what runs the live poll, never run in the request.

Embedded, the scheduler's live thread is woken; with a broker, the task goes to a Celery
worker. Either way the request answers with the change sent and recorded but the live status
not yet re-read, and the queued run is the real live poll, which then shows the change.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from actions import services as actions
from audit.models import ActionAttempt, Outcome
from core import queue
from dashboard.celery import app as celery_app
from dashboard.schedule import Entry, entries
from dashboard.scheduler import EmbeddedScheduler
from stations import jobs
from stations.models import LiveStatus, PollRecord
from stations.tasks import poll_live
from tests.stations.helpers import other_state
from tests.stations.test_actions import ALL, Factory, make_user

pytestmark = pytest.mark.django_db

#: Long enough that an entry runs again within a test only when woken.
NEVER = 3600.0
#: How long a woken thread may take to run, on a machine whose cores are busy.
WITHIN = 30.0


@pytest.fixture
def factory(monkeypatch, settings) -> Factory:
    """The simulated factory; the write and any poll reach it, and tasks are queued."""
    factory = Factory()
    monkeypatch.setattr(actions, "cwork_client", lambda api_key=None: factory.client(api_key))
    # The live poll as a worker or the scheduler runs it: with the settings' client.
    monkeypatch.setattr(jobs, "shared_cwork_client", factory.client)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    return factory


class Runs:
    """A scheduler entry that only counts its runs."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def reach(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= count, timeout=WITHIN)


@pytest.fixture
def scheduler():
    """An embedded scheduler whose entries only count their runs, stopped at the end."""
    started: list[EmbeddedScheduler] = []

    def start(*tasks: str) -> dict[str, Runs]:
        runs = {task: Runs() for task in tasks}
        scheduler = EmbeddedScheduler([Entry(task, NEVER, run) for task, run in runs.items()])
        scheduler.start()
        started.append(scheduler)
        for run in runs.values():
            assert run.reach(1)  # each entry's first run, at start
        return runs

    yield start
    for scheduler in started:
        scheduler.stop()


def change_state(client, factory: Factory) -> tuple[Any, Any, int]:
    """A supervisor changes a station's state from its page; the station, the response and
    the state asked for."""
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    response = client.post(
        f"/stations/{station.pk}/actions/change_state/",
        {"state": target, "idempotency_key": uuid.uuid4().hex},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert ActionAttempt.objects.get().outcome == Outcome.OK
    assert factory.state_now(station.cwork_id) == target  # sent: CWork has it
    return station, response, target


def live_polls() -> int:
    return PollRecord.objects.filter(kind="live").count()


def test_embedded_the_request_wakes_the_live_poll_thread_instead_of_polling(
    client, factory, scheduler
):
    runs = scheduler(poll_live.name, "stations.history")
    polls = live_polls()

    station, _response, target = change_state(client, factory)

    # The answer came before any re-read: no live poll ran in the request.
    assert live_polls() == polls
    assert LiveStatus.objects.get(station=station).state_cwork_id != target
    # The live poll's thread was woken for one more run; the other entries were not.
    assert runs[poll_live.name].reach(2)
    assert runs["stations.history"].count == 1

    # What that thread runs is the schedule's live entry: the live poll, which shows it.
    [live] = [entry for entry in entries() if entry.task == poll_live.name]
    live.run()
    assert live_polls() == polls + 1
    assert LiveStatus.objects.get(station=station).state_cwork_id == target


class Broker:
    """Celery's sending end: records each task sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send_task(self, name: str, **options: Any) -> None:
        self.sent.append((name, options))


def test_with_a_broker_the_request_sends_the_live_poll_to_a_worker(
    client, factory, settings, monkeypatch
):
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    broker = Broker()
    monkeypatch.setattr(queue, "current_app", broker)
    polls = live_polls()

    station, _response, target = change_state(client, factory)

    assert broker.sent == [(poll_live.name, {"expires": actions.repoll_expiry()})]
    assert live_polls() == polls
    assert LiveStatus.objects.get(station=station).state_cwork_id != target

    # A worker runs the task by the name sent: the live poll, which shows the change.
    celery_app.tasks[poll_live.name]()
    assert live_polls() == polls + 1
    assert LiveStatus.objects.get(station=station).state_cwork_id == target


def test_the_re_read_waits_at_least_half_a_minute_for_a_worker(settings):
    settings.POLL_INTERVAL = 2.0
    assert actions.repoll_expiry() == 30.0
    settings.POLL_INTERVAL = 5.0
    assert actions.repoll_expiry() == 50.0


def test_a_woken_entry_runs_once_more_and_keeps_its_schedule(scheduler):
    runs = scheduler("a", "b")

    assert queue.run_soon("a", expires=1)
    assert runs["a"].reach(2)
    assert queue.run_soon("a", expires=1)
    assert runs["a"].reach(3)
    assert runs["b"].count == 1
    assert not queue.run_soon("not scheduled", expires=1)


def test_without_a_scheduler_or_a_worker_the_caller_runs_it(settings, monkeypatch):
    broker = Broker()
    monkeypatch.setattr(queue, "current_app", broker)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"  # embedded without its scheduler: a shell
    assert not queue.run_soon(poll_live.name, expires=1)
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the suite: no worker takes what is sent
    assert not queue.run_soon(poll_live.name, expires=1)
    assert broker.sent == []


def test_a_broker_that_cannot_be_reached_leaves_the_re_read_to_the_caller(
    settings, monkeypatch, caplog
):
    class Down:
        def send_task(self, name: str, **options: Any) -> None:
            raise ConnectionError("broker down")

    monkeypatch.setattr(queue, "current_app", Down())
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    assert not queue.run_soon(poll_live.name, expires=1)
    assert "could not be queued" in caplog.text


def test_a_stopped_scheduler_is_no_longer_woken():
    runs = Runs()
    scheduler = EmbeddedScheduler([Entry("a", NEVER, runs)])
    scheduler.start()
    assert runs.reach(1)
    scheduler.stop()
    assert not scheduler.wake("a")
    assert queue._scheduler is None
