"""CWork, Redis and the worker failing under the production processes, on loopback.

One deployment for the module: ``bin/simulator`` (30 stations, two days of history), a
``redis-server`` of this module's own on a free port (it is killed and restarted here, so it
must never be anyone else's), a counting TCP proxy between the dashboard and the simulator,
and ``bin/web``, ``bin/worker``, ``bin/beat`` on a fresh PostgreSQL database, with a one
second poll and short intervals. Faults are switched on the simulator at run time
(``/_simulator/faults``); every wait is a poll with a deadline, and timing bounds are counted
in poll intervals with a generous margin (the machine may be busy with other work).

The tests run in file order, from the mildest to the most destructive: the last one leaves
the history sync's lock held for its full TTL (10 minutes).

Not here: a station record with wrong types inside an otherwise good answer. The simulator
has no fault that corrupts one record, and a rewrite at the transport level is not possible
across processes; ``tests/stations/test_live.py::
test_a_malformed_station_record_is_skipped_and_reported`` covers it in-process.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from django.utils.html import escape
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from .conftest import unavailable
from .faults import (
    FaultStack,
    backoff_cap,
    change_states,
    duplicated_keys,
    history_differences,
    manage,
    max_attempts,
    reached_database,
    redis_server,
    start_redis,
    start_stack,
    stop_stack,
    stored_live,
)

pytestmark = pytest.mark.slow

STATIONS = 30
POLL_INTERVAL = 1.0
HISTORY_SYNC_INTERVAL = 2.0
SLOW_INTERVAL = 30.0
CWORK_TIMEOUT = 2.0
#: A whole CWork call may take 3 timeouts (the client's deadline).
CALL_DEADLINE = 3 * CWORK_TIMEOUT
STALE_AFTER_POLLS = 3
OUTAGE_SECONDS = 20.0
#: Latency above the poll interval but under the timeout: every poll is slow, none fails.
SLOW_LATENCY = 1.4
#: Recovery after one failure: the 2-interval back-off, a poll and a generous margin.
RECOVERY_TIMEOUT = backoff_cap(POLL_INTERVAL) + 15
#: stations.jobs.JOBS: the live lock's TTL (stations.jobs.live_lock_ttl: ten polls, at least
#: one whole call) and the history lock's (a fixed constant).
LIVE_LOCK_TTL, HISTORY_LOCK_TTL = max(10 * POLL_INTERVAL, 3 * CWORK_TIMEOUT), 600
#: Every job's interval (for the request budget during an outage).
INTERVALS = {
    "live": POLL_INTERVAL,
    "history": HISTORY_SYNC_INTERVAL,
    "catalogue": SLOW_INTERVAL,
    "orders": SLOW_INTERVAL,
    "kpis": SLOW_INTERVAL,
}
#: Requests one failing read can make: the first and the client's 2 retries.
REQUESTS_PER_ATTEMPT = 3
STARTUP_TIMEOUT = 90.0
WALL_USER, WALL_PASSWORD = "wall-faults", "fault-test-password-4242"

SETTINGS = {
    "POLL_INTERVAL": f"{POLL_INTERVAL:g}",
    "STALE_AFTER_POLLS": str(STALE_AFTER_POLLS),
    "HISTORY_SYNC_INTERVAL": f"{HISTORY_SYNC_INTERVAL:g}",
    "CATALOGUE_SYNC_INTERVAL": f"{SLOW_INTERVAL:g}",
    "ORDERS_SYNC_INTERVAL": f"{SLOW_INTERVAL:g}",
    "KPI_SYNC_INTERVAL": f"{SLOW_INTERVAL:g}",
    "KPI_BACKFILL_DAYS": "1",
    "HISTORY_BACKFILL_DAYS": "1",
    "CWORK_TIMEOUT": f"{CWORK_TIMEOUT:g}",
}


# --- the deployment ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, e2e_database: str, services: None
) -> Iterator[FaultStack]:
    if redis_server() is None:
        unavailable("redis-server is not installed (the fault tests restart a Redis of their own)")
    stack = start_stack(
        tmp_path_factory.mktemp("faults"),
        e2e_database,
        f"faults-{secrets.token_hex(4)}",
        stations=STATIONS,
        settings=SETTINGS,
        simulator_args=["--history-days", "2"],
    )
    try:
        stack.wait_until(
            f"the first poll of {STATIONS} stations",
            lambda: len(stored_live(stack)) == STATIONS,
            STARTUP_TIMEOUT,
        )
        yield stack
    finally:
        stop_stack(stack)
    assert not stack.processes.leftovers(), "processes left running after the tests"


@pytest.fixture
def healthy(request: pytest.FixtureRequest, stack: FaultStack) -> Iterator[FaultStack]:
    """No faults, and a successful poll since; every process still running afterwards."""
    request.node.e2e_processes = stack.processes
    stack.clear_faults()
    wait(stack, "a successful live poll", ok_live_after(stack, now()), RECOVERY_TIMEOUT)
    yield stack
    stack.clear_faults()
    stack.processes.check_alive()


def now() -> datetime:
    return datetime.now(UTC)


def wait(stack: FaultStack, what: str, check: Callable[[], Any], timeout: float) -> Any:
    try:
        return stack.wait_until(what, check, timeout)
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(str(exc), pytrace=False)


def ok_live_after(stack: FaultStack, since: datetime) -> Callable[[], bool]:
    return lambda: stack.ok_live_since(since)


def assert_all_alive(stack: FaultStack) -> None:
    stack.processes.check_alive()
    assert sorted(stack.processes.alive()) == ["beat", "redis", "simulator", "web", "worker"]


# --- 2. every kind of CWork failure the live poll may meet -------------------------------------

FAULTS = [
    pytest.param({"latency": CWORK_TIMEOUT + 1}, "CWorkTimeout", id="slow"),
    pytest.param({"hang_rate": 1, "hang_seconds": 8}, "CWorkTimeout", id="hanging"),
    pytest.param({"error_rate": 1, "error_codes": [0]}, "CWorkServerError", id="bare-503"),
    *(
        pytest.param({"error_rate": 1, "error_codes": [code]}, f"CWork error {code}", id=str(code))
        for code in (1001, 1013, 2003, 3001, 4000)
    ),
    # A 1002 makes the client ask for the server's version again; every version refused,
    # it gives up with a version error.
    pytest.param({"error_rate": 1, "error_codes": [1002]}, "CWorkVersionError", id="1002"),
    *(
        pytest.param(
            {"malformed_rate": 1, "malformed_kinds": [kind]},
            "CWorkProtocolError",
            id=f"malformed-{kind}",
        )
        for kind in ("truncated", "garbage", "html", "empty")
    ),
]


@pytest.mark.parametrize(("fault", "expected"), FAULTS)
def test_a_cwork_fault_is_recorded_and_the_next_polls_succeed_once_cleared(
    healthy: FaultStack, fault: dict[str, Any], expected: str
) -> None:
    stack = healthy
    set_at = now()
    stack.faults(**fault)
    # A poll already under way when the fault was set may still succeed: the next one fails.
    failed = wait(
        stack,
        f"a failed live poll recording {expected!r}",
        lambda: [r for r in stack.live_records(set_at) if not r[2]],
        CALL_DEADLINE + 4 * POLL_INTERVAL + 10,
    )
    stack.clear_faults()
    cleared_at = now()
    for started_at, _, _, error in failed:
        assert expected in error, f"poll at {started_at}: {error!r}"
    wait(stack, "a successful poll after the fault", ok_live_after(stack, cleared_at), 40)
    assert_all_alive(stack)
    state = stack.query("SELECT failures, retry_at FROM stations_syncstate WHERE kind = 'live'")
    assert state == [] or state[0] == (0, None), state


def test_with_half_the_requests_failing_changed_stations_still_update(healthy: FaultStack) -> None:
    stack = healthy
    set_at = now()
    stack.faults(error_rate=0.5, error_codes=[0, 1013, 2003, 4000], seed=7)
    changes = change_states(stack, 3)
    wait(stack, "the three changes in the database", lambda: reached_database(stack, changes), 45)
    stack.clear_faults()
    records = stack.live_records(set_at)
    print(
        f"{sum(r[2] for r in records)} successful and {sum(not r[2] for r in records)} failed "
        "live polls while half the requests failed"
    )
    assert_all_alive(stack)


# --- 5. slow CWork: the live poll never overlaps itself nor piles up ---------------------------


def test_polls_slower_than_their_interval_never_overlap_nor_pile_up(healthy: FaultStack) -> None:
    stack = healthy
    stack.faults(latency=SLOW_LATENCY)
    # Polls started from now on make their request after the latency was set.
    window_start = now()
    runs = 5
    wait(
        stack,
        f"{runs} slow live polls",
        lambda: len(stack.live_records(window_start)) >= runs,
        runs * (SLOW_LATENCY + POLL_INTERVAL) + 30,
    )
    stack.clear_faults()
    records = stack.live_records(window_start)
    spans = [(start, start + timedelta(seconds=duration)) for start, duration, _, _ in records]
    for (start, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end, f"the poll of {next_start} began before the one of {start} ended"
    window = (spans[-1][1] - window_start).total_seconds()
    assert len(records) <= window / SLOW_LATENCY + 1, (
        f"{len(records)} live polls in {window:.1f} s with {SLOW_LATENCY} s of latency"
    )
    assert min(duration for _, duration, _, _ in records) >= SLOW_LATENCY * 0.9


# --- 1. a CWork outage: stale, back-off, recovery, no history lost ------------------------------


def test_an_outage_turns_stale_backs_off_recovers_and_leaves_no_history_gap(
    healthy: FaultStack,
) -> None:
    stack = healthy
    result = run_outage(stack, OUTAGE_SECONDS)
    print(summary(result))
    assert result["time_to_stale"] <= STALE_AFTER_POLLS * POLL_INTERVAL + 8, result
    assert result["recovered_after_outage"] <= backoff_cap(POLL_INTERVAL) + 10, result
    assert result["live_attempts_during_outage"] <= result["live_attempts_allowed"], result
    assert result["requests_during_outage"] <= result["requests_allowed"], (
        f"{result['requests_during_outage']} requests during the outage, allowed "
        f"{result['requests_allowed']}; by path: {result['requests_by_path']}"
    )
    assert result["history_problems"] == [], result["history_problems"]
    assert result["duplicates"] == []


def run_outage(stack: FaultStack, seconds: float) -> dict[str, Any]:
    """The scenario, also run by bench/outage.py with longer outages."""
    return outage_scenario(stack, seconds, wait)


def outage_scenario(
    stack: FaultStack, seconds: float, waiter: Callable[..., Any]
) -> dict[str, Any]:
    since_history = stack.started_at.astimezone(UTC) - timedelta(hours=12)
    stack.faults(outage=True, outage_seconds=seconds)
    began, began_at = time.monotonic(), now()
    ended = began + seconds
    marks: dict[str, float] = {}

    def watch() -> bool:
        status = stack.fresh()
        moment = time.monotonic()
        if status == 503 and "stale" not in marks:
            marks["stale"] = moment
        if status == 200 and "stale" in marks and moment >= ended:
            marks["recovered"] = moment
            return True
        return False

    waiter(
        stack,
        "/health?fresh to turn stale and back",
        watch,
        seconds + backoff_cap(POLL_INTERVAL) + 30,
    )
    ended_at = began_at + timedelta(seconds=seconds)
    failed_starts = [
        start for start, _, ok, _ in stack.live_records(began_at) if not ok and start < ended_at
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failed_starts)]
    allowed = {kind: max_attempts(i, seconds) + 1 for kind, i in INTERVALS.items()}
    # History caught up: every station's cursor past the outage, then compared with CWork.
    waiter(
        stack,
        "a history sync past the outage",
        lambda: (
            stack.query(
                "SELECT count(*) FROM stations_station"
                " WHERE present_in_cwork AND history_synced_until > %s",
                (ended_at,),
            )[0][0]
            == stack.stations
        ),
        backoff_cap(HISTORY_SYNC_INTERVAL) + 60,
    )
    problems: list[str] = []

    def consistent() -> bool:
        problems[:] = history_differences(stack, since_history)
        return not problems

    try:
        waiter(stack, "the history to match CWork's", consistent, 30)
    except BaseException:
        if not problems:
            raise
    return {
        "outage_seconds": seconds,
        "time_to_stale": marks["stale"] - began,
        "recovered_after_outage": marks["recovered"] - ended,
        "time_to_recover": marks["recovered"] - began,
        "requests_during_outage": stack.proxy.count(began, ended),
        "requests_by_path": stack.proxy.count_by_path(began, ended),
        "requests_allowed": REQUESTS_PER_ATTEMPT * sum(allowed.values()),
        "requests_without_backoff": REQUESTS_PER_ATTEMPT
        * sum(int(seconds / i) + 1 for i in INTERVALS.values()),
        "live_attempts_during_outage": len(failed_starts),
        "live_attempts_allowed": allowed["live"],
        "live_retry_gaps": [round(g, 2) for g in gaps],
        "history_problems": problems,
        "duplicates": duplicated_keys(stack),
    }


def summary(result: dict[str, Any]) -> str:
    return (
        f"outage {result['outage_seconds']:g} s: {result['requests_during_outage']} requests "
        f"during it (allowed {result['requests_allowed']}, "
        f"{result['requests_without_backoff']} without back-off), "
        f"{result['live_attempts_during_outage']} live attempts, "
        f"stale after {result['time_to_stale']:.1f} s, "
        f"recovered {result['recovered_after_outage']:.1f} s after its end, history "
        f"{'matches CWork' if not result['history_problems'] else 'DIFFERS'}"
    )


# --- 3. Redis restarted under an open wall ----------------------------------------------------


class Wall:
    """A wall's WebSocket, reconnecting after any close as the page does."""

    def __init__(self, stack: FaultStack, cookie: str) -> None:
        self.url = stack.web_url.replace("http://", "ws://") + "/ws/wall/"
        self.origin = Origin(stack.web_url)
        self.cookie = cookie
        self.socket: ClientConnection | None = None
        self.sockets = contextlib.ExitStack()
        self.connections = 0
        self.closes: list[int | None] = []
        self.snapshots: list[str] = []
        #: Why each failed (re)connection failed.
        self.refused: list[str] = []

    def connect(self, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.socket = self.sockets.enter_context(
                    connect(
                        self.url,
                        origin=self.origin,
                        additional_headers={"Cookie": f"sessionid={self.cookie}"},
                        open_timeout=5,
                    )
                )
                first = str(self.socket.recv(timeout=10))
                break
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.refused.append(f"{type(exc).__name__}: {exc}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.connections += 1
        assert 'id="wall-grid"' in first, f"the first frame is no snapshot: {first[:200]}"
        self.snapshots.append(first)
        return first

    def wait_for(self, check: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no such frame within {timeout:g} s")
            assert self.socket is not None
            try:
                frame = str(self.socket.recv(timeout=remaining))
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else None)
                frame = self.connect(timeout=max(1.0, remaining))
            if check(frame):
                return frame

    def close(self) -> None:
        self.sockets.close()


def tile_shows(frame: str, station_pk: int, state_name: str) -> bool:
    at = frame.find(f'id="tile-{station_pk}"')
    if at < 0:
        return False
    tile = frame[at : frame.find("</li>", at)]
    shown = TILE_STATE.search(tile)
    return shown is not None and shown.group(1).strip() == escape(state_name)


#: A tile's state line: its category mark (an empty span), then the state's name.
TILE_STATE = re.compile(r'<p class="tile-state">(?:<span [^>]*></span>)?(.*?)</p>', re.S)


def session_cookie(stack: FaultStack) -> str:
    manage(
        stack,
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.filter(username={WALL_USER!r}).exists() or "
        f"U.objects.create_superuser({WALL_USER!r}, '', {WALL_PASSWORD!r})",
    )
    with httpx.Client(base_url=stack.web_url, timeout=15) as client:
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        answer = client.post(
            "/login/",
            data={
                "username": WALL_USER,
                "password": WALL_PASSWORD,
                "csrfmiddlewaretoken": token[1],
            },
        )
        assert answer.status_code == 302, answer.text[:500]
        return client.cookies["sessionid"]


def test_after_a_redis_restart_changes_reach_the_database_and_an_open_wall(
    healthy: FaultStack,
) -> None:
    stack = healthy
    wall = Wall(stack, session_cookie(stack))
    try:
        wall.connect()
        wall.wait_for(lambda frame: 'id="wall-heartbeat"' in frame, 10 * POLL_INTERVAL)

        stack.processes.kill("redis")
        down = 3.0  # the outage itself, not a wait for anything
        time.sleep(down)
        start_redis(stack)
        restarted_at = now()

        wait(
            stack,
            "a successful poll after the restart",
            ok_live_after(stack, restarted_at),
            60,
        )
        changes = change_states(stack, 1)
        (change,) = changes
        wait(stack, "the change in the database", lambda: reached_database(stack, changes), 30)
        pk = stack.query("SELECT id FROM stations_station WHERE cwork_id = %s", (change.cwork_id,))
        station_pk = pk[0][0]
        try:
            wall.wait_for(lambda frame: tile_shows(frame, station_pk, change.state_name), 30)
        except TimeoutError:
            pytest.fail(
                f"the wall never showed station {change.cwork_id} in {change.state_name!r} "
                f"after Redis restarted: {wall.connections} connection(s), closes "
                f"{wall.closes}",
                pytrace=False,
            )
        print(
            f"wall: {wall.connections} connection(s), closes {wall.closes}, "
            f"{len(wall.refused)} refused reconnection(s) {wall.refused[:2]}"
        )
        if wall.connections > 1:
            # It reconnected: its first frame then was a snapshot of the current state.
            assert any(tile_shows(s, station_pk, change.state_name) for s in wall.snapshots[1:])
        assert duplicated_keys(stack) == []
        assert_all_alive(stack)
    finally:
        wall.close()


# --- 4. a worker killed in the middle of a run -------------------------------------------------


def test_a_worker_killed_mid_run_frees_its_lock_and_leaves_nothing_half_written(
    healthy: FaultStack,
) -> None:
    stack = healthy
    since_history = stack.started_at.astimezone(UTC) - timedelta(hours=12)
    locks = redis.Redis(host="127.0.0.1", port=stack.redis_port)
    live_key, history_key = (f"{stack.prefix}:1:lock:job:{kind}" for kind in ("live", "history"))
    # Every request slow: a poll takes over a second, a history sync many (4 per station).
    stack.faults(latency=SLOW_LATENCY)
    wait(
        stack,
        "a live poll and a history sync both under way",
        lambda: locks.exists(live_key) and locks.exists(history_key),
        HISTORY_SYNC_INTERVAL * 8 + 30,
    )
    stack.processes.kill("worker")
    killed, killed_at = time.monotonic(), now()
    live_ttl, history_ttl = locks.ttl(live_key), locks.ttl(history_key)
    print(f"locks left by the killed worker: live expires in {live_ttl} s, history {history_ttl} s")
    assert 0 < live_ttl <= LIVE_LOCK_TTL
    assert 0 < history_ttl <= HISTORY_LOCK_TTL
    stack.clear_faults()
    stack.processes.start("worker")

    # The live poll comes back once its dead run's lock expires: ten polls, not a minute.
    wait(
        stack,
        "the next successful live poll",
        ok_live_after(stack, killed_at),
        live_ttl + 10 * POLL_INTERVAL + 20,
    )
    print(f"live polls again {time.monotonic() - killed:.1f} s after the kill")
    # The history sync's lock (10 minutes) is still held: what the dead run wrote is checked
    # as it stands, each station whole or not at all.
    assert locks.exists(history_key)
    problems: list[str] = []

    def consistent() -> bool:
        problems[:] = history_differences(stack, since_history)
        return not problems

    try:
        wait(stack, "the history to match CWork's", consistent, 20)
    except BaseException:
        assert problems == []
        raise
    assert duplicated_keys(stack) == []
    # Live statuses: one per station, states consistent with their catalogue rows, and equal
    # to what CWork reports (machines change state by themselves, so compared until equal).
    mismatched = stack.query(
        "SELECT l.station_id FROM stations_livestatus l"
        " LEFT JOIN stations_state s ON s.id = l.state_id"
        " WHERE s.cwork_id IS DISTINCT FROM l.state_cwork_id"
    )
    assert mismatched == []

    def live_matches() -> bool:
        with stack.client() as client:
            cwork = {s.station_id: s.state.handle for s in client.station_statuses()}
        stored = {k: v[0] for k, v in stored_live(stack).items()}
        return stored == cwork

    wait(stack, "the stored live statuses to equal CWork's", live_matches, 20)
    assert_all_alive(stack)
