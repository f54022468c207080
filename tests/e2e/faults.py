"""Helpers shared by the fault tests (tests/e2e/test_faults.py) and bench/outage.py.

The production processes run against a Redis of their own (a ``redis-server`` on a free
loopback port, so that it can be killed and restarted without disturbing anyone else's Redis),
and reach the simulator through a counting TCP proxy: during an outage the simulator drops
requests without logging them, so the proxy is what tells how many were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cwork.client import CWorkClient
from devtools import processes as devprocesses
from devtools.processes import free_port, http_ok, listening, simulator_answers, wait_until

from .conftest import ROOT, Processes, pg_connect, process_env

API_KEY = "demo-key"
SECRET_KEY = "e2e-faults-only-secret-key-never-used-anywhere-else-0123456789"
STARTUP_TIMEOUT = 60.0
#: CWork's standard states (never archived): production, setting and waiting.
PRODUCTION, SETTING, WAITING = 0, 2, 3


class FaultProcesses(Processes):
    """The bin/ scripts, plus any other command (redis-server); processes a test killed on
    purpose are no longer expected to be alive."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        super().__init__(logs, env)
        self.killed: set[int] = set()

    def start_command(self, name: str, argv: list[str]) -> devprocesses.Process:
        return devprocesses.Processes.start(self, name, argv)

    def kill(self, name: str) -> None:
        """SIGKILL to the process group of the running process called ``name``."""
        process = self.get(name)
        process.kill()
        self.killed.add(process.popen.pid)

    def get(self, name: str) -> devprocesses.Process:
        alive = [p for p in self.running if p.name == name and p.popen.pid not in self.killed]
        assert alive, f"no running process called {name}"
        return alive[-1]

    def check_alive(self) -> None:
        running = self.running
        self.running = [p for p in running if p.popen.pid not in self.killed]
        try:
            super().check_alive()
        finally:
            self.running = running

    def alive(self) -> list[str]:
        return [
            p.name
            for p in self.running
            if p.popen.pid not in self.killed and p.popen.poll() is None
        ]


class CountingProxy:
    """A loopback TCP proxy in front of the simulator that time-stamps every HTTP request
    going through it (request lines end with `` HTTP/1.1``; the dashboard sends no bodies
    that could contain one, and JSON escapes line breaks anyway)."""

    MARK = b" HTTP/1.1\r\n"
    PATH = re.compile(rb"[A-Z]+ (/[^ ?]*)[^ ]* HTTP/1\.1\r\n")

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.requests: list[float] = []
        #: Each request's path (no query), in the order of ``requests``.
        self.paths: list[str] = []
        self.connections: list[float] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)

    def start(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def count(self, start: float, end: float) -> int:
        """Requests sent between two ``time.monotonic()`` readings."""
        with self._lock:
            return sum(start <= t < end for t in self.requests)

    def count_by_path(self, start: float, end: float) -> dict[str, int]:
        """The same requests, counted by path (what a budget overrun was spent on)."""
        with self._lock:
            timed = zip(self.requests, self.paths, strict=False)
            return dict(Counter(path for t, path in timed if start <= t < end))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections.append(time.monotonic())
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pump(reader, up_writer, count=True),
            self._pump(up_reader, writer, count=False),
            return_exceptions=True,
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        tail = b""
        try:
            while data := await reader.read(65536):
                if count:
                    seen = tail + data
                    found = seen.count(self.MARK)
                    if found:
                        now = time.monotonic()
                        paths = [m.decode(errors="replace") for m in self.PATH.findall(seen)]
                        paths = (paths + ["?"] * found)[:found]
                        with self._lock:
                            self.requests.extend([now] * found)
                            self.paths.extend(paths)
                    tail = seen[-(len(self.MARK) - 1) :]
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@dataclass
class FaultStack:
    processes: FaultProcesses
    env: dict[str, str]
    database: str
    redis_port: int
    redis_url: str
    prefix: str
    cwork_url: str
    web_url: str
    proxy: CountingProxy
    started_at: datetime
    stations: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dbname(self) -> str:
        return self.database.rsplit("/", 1)[1]

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        return wait_until(what, check, self.processes, timeout)

    # --- the simulator ----------------------------------------------------------------------

    def faults(self, **settings: Any) -> dict[str, Any]:
        response = httpx.put(
            f"{self.cwork_url}/_simulator/faults",
            json=settings,
            headers={"X-Simulator-Token": API_KEY},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def clear_faults(self) -> None:
        response = httpx.delete(
            f"{self.cwork_url}/_simulator/faults",
            headers={"X-Simulator-Token": API_KEY},
            timeout=10,
        )
        response.raise_for_status()

    def client(self) -> CWorkClient:
        """A client straight to the simulator (not through the proxy: never counted)."""
        return CWorkClient(self.cwork_url, API_KEY, retries=0)

    # --- the database -----------------------------------------------------------------------

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with pg_connect(self.dbname) as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    def live_records(self, since: datetime) -> list[tuple[datetime, float, bool, str]]:
        return self.query(
            "SELECT started_at, duration, ok, error FROM stations_pollrecord"
            " WHERE kind = 'live' AND started_at >= %s ORDER BY started_at",
            (since,),
        )

    def ok_live_since(self, since: datetime) -> bool:
        return any(ok for _, _, ok, _ in self.live_records(since))

    def fresh(self) -> int:
        """/health?fresh's status: 200 while the live data is fresh, 503 once stale."""
        try:
            return httpx.get(f"{self.web_url}/health?fresh", timeout=5).status_code
        except httpx.HTTPError:
            return 0


def start_stack(
    tmp: Path,
    database: str,
    prefix: str,
    *,
    stations: int,
    settings: dict[str, str],
    simulator_args: list[str],
) -> FaultStack:
    """Redis, the simulator, the proxy, web, worker and beat; stopped with ``stop_stack``."""
    redis_port, simulator_port, web_port = free_port(), free_port(), free_port()
    cwork_url = f"http://127.0.0.1:{simulator_port}"
    proxy = CountingProxy(simulator_port).start()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = process_env(
        tmp / "data",
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=prefix,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_COOKIES="false",
        CWORK_URL=f"http://127.0.0.1:{proxy.port}",
        CWORK_API_KEY=API_KEY,
        BIND="127.0.0.1",
        PORT=str(web_port),
        SIMULATOR_HOST="127.0.0.1",
        SIMULATOR_PORT=str(simulator_port),
        SIMULATOR_STATIONS=str(stations),
        **settings,
    )
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = FaultProcesses(logs, env)
    stack = FaultStack(
        processes=processes,
        env=env,
        database=database,
        redis_port=redis_port,
        redis_url=redis_url,
        prefix=prefix,
        cwork_url=cwork_url,
        web_url=f"http://127.0.0.1:{web_port}",
        proxy=proxy,
        started_at=datetime.now().astimezone(),
        stations=stations,
    )
    try:
        start_redis(stack)
        processes.start("simulator", *simulator_args)
        processes.start("web")
        stack.wait_until(
            "the simulator", lambda: simulator_answers(cwork_url, API_KEY), STARTUP_TIMEOUT
        )
        stack.wait_until(
            "web's /health", lambda: http_ok(f"{stack.web_url}/health"), STARTUP_TIMEOUT
        )
        processes.start("worker")
        processes.start("beat")
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def redis_server() -> str | None:
    return shutil.which("redis-server")


def start_redis(stack: FaultStack) -> devprocesses.Process:
    binary = redis_server()
    assert binary, "redis-server is not installed"
    process = stack.processes.start_command(
        "redis",
        [
            binary,
            "--port",
            str(stack.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
    )
    stack.wait_until("redis-server", lambda: listening(stack.redis_port), 20)
    return process


def stop_stack(stack: FaultStack) -> None:
    try:
        stack.processes.stop_all()
    finally:
        stack.proxy.stop()


def manage(stack: FaultStack, code: str) -> str:
    """``manage.py shell -c code`` with the processes' environment (their database)."""
    done = subprocess.run(
        [str(Path(stack.env["PATH"].split(":")[0]) / "python"), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- the back-off -----------------------------------------------------------------------------


def backoff_cap(interval: float) -> float:
    """stations.jobs.backoff's cap: 8 intervals, between 30 s and 10 min."""
    return min(max(30.0, 8 * interval), 600.0)


def max_attempts(interval: float, seconds: float, failures_before: int = 0) -> int:
    """The most runs a failing job can start in ``seconds`` under the back-off (its shortest
    jittered delays, 0.8 of each), counting a run at the very start."""
    elapsed, attempts, failures = 0.0, 1, failures_before
    while True:
        failures += 1
        delay = 0.8 * min(backoff_cap(interval), interval * 2 ** min(failures, 16))
        elapsed += delay
        if elapsed > seconds:
            return attempts
        attempts += 1


# --- the history, compared with CWork's ---------------------------------------------------------


def _end(end: datetime | None, cursor: datetime) -> datetime | None:
    """An interval still open at the sync (or ending after it) shows as open on both sides."""
    return None if end is None or end >= cursor else end


def history_differences(stack: FaultStack, since: datetime) -> list[str]:
    """Every station's stored tops, alarms and program runs from ``since`` to its history
    cursor against what the simulator reports for the same period; also gaps, overlaps and
    duplicated keys. Read in one snapshot, so a sync running meanwhile is seen whole or not."""
    with pg_connect(stack.dbname) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        stations = conn.execute(
            "SELECT id, cwork_id, history_synced_until FROM stations_station"
            " WHERE present_in_cwork ORDER BY cwork_id"
        ).fetchall()
        tops = conn.execute(
            'SELECT station_id, start, "end", state_cwork_id, comment FROM stations_top'
            " ORDER BY station_id, start"
        ).fetchall()
        alarms = conn.execute(
            'SELECT station_id, code, start, "end", message FROM stations_alarminterval'
        ).fetchall()
        programs = conn.execute(
            'SELECT station_id, kind, start, "end", name, context FROM stations_programrun'
            " WHERE NOT provisional"
        ).fetchall()
        conn.execute("COMMIT")
    problems: list[str] = []
    if len(stations) != stack.stations:
        problems.append(f"{len(stations)} stations stored, {stack.stations} in CWork")
    by_station: dict[int, list[tuple[Any, ...]]] = {}
    for row in tops:
        by_station.setdefault(row[0], []).append(row)
    with stack.client() as client:
        for pk, cwork_id, cursor in stations:
            if cursor is None:
                problems.append(f"station {cwork_id}: history never synced")
                continue
            mine = by_station.get(pk, [])
            for before, after in itertools.pairwise(mine):
                if before[2] != after[1]:
                    problems.append(
                        f"station {cwork_id}: gap or overlap between the top ending "
                        f"{before[2]} and the one starting {after[1]}"
                    )
            stored_tops = [
                (start, _end(end, cursor), state, comment)
                for _, start, end, state, comment in mine
                if since <= start < cursor
            ]
            cwork_tops = [
                (t.start, _end(t.end, cursor), t.state_handle, t.comment)
                for t in client.iter_tops(cwork_id, since, cursor)
            ]
            if stored_tops != cwork_tops:
                problems.append(
                    f"station {cwork_id}: tops differ from CWork's: "
                    f"{_diff(stored_tops, cwork_tops)}"
                )
            stored_alarms = sorted(
                (code, start, _end(end, cursor), message)
                for station, code, start, end, message in alarms
                if station == pk and start < cursor and (end is None or end > since)
            )
            cwork_alarms = sorted(
                (a.code, a.start, _end(a.end, cursor), a.message)
                for a in client.station_alarms(cwork_id, since, cursor)
            )
            if stored_alarms != cwork_alarms:
                problems.append(
                    f"station {cwork_id}: alarms differ from CWork's: "
                    f"{_diff(stored_alarms, cwork_alarms)}"
                )
            for kind, fetch in (
                ("running", client.running_programs),
                ("selected", client.selected_programs),
            ):
                stored_runs = sorted(
                    (start, _end(end, cursor), name, context)
                    for station, k, start, end, name, context in programs
                    if station == pk
                    and k == kind
                    and start < cursor
                    and (end is None or end > since)
                )
                cwork_runs = sorted(
                    (r.start, _end(r.end, cursor), r.name, r.context)
                    for r in fetch(cwork_id, since, cursor)
                )
                if stored_runs != cwork_runs:
                    problems.append(
                        f"station {cwork_id}: {kind} programs differ from CWork's: "
                        f"{_diff(stored_runs, cwork_runs)}"
                    )
    return problems


def _diff(stored: list[Any], cwork: list[Any]) -> str:
    only_stored = [row for row in stored if row not in cwork]
    only_cwork = [row for row in cwork if row not in stored]
    return (
        f"{len(stored)} stored, {len(cwork)} in CWork; only stored {only_stored[:3]}, "
        f"only in CWork {only_cwork[:3]}"
    )


def duplicated_keys(stack: FaultStack) -> list[tuple[Any, ...]]:
    """(table, key..., count) of any history key stored more than once."""
    found: list[tuple[Any, ...]] = []
    for table, key in (
        ("stations_top", "station_id, start"),
        ("stations_alarminterval", "station_id, code, start"),
        ("stations_programrun", "station_id, kind, start"),
    ):
        found += [
            (table, *row)
            for row in stack.query(
                f"SELECT {key}, count(*) FROM {table} GROUP BY {key} HAVING count(*) > 1"  # noqa: S608
            )
        ]
    return found


# --- state changes made in CWork -----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    cwork_id: int
    state: int
    state_name: str
    #: The stored status's changed_at before the change (None: not stored yet).
    before: datetime | None


def change_states(stack: FaultStack, count: int, *, attempts: int = 20) -> list[Change]:
    """Change ``count`` writable stations to another standard state in the simulator. A write
    refused by an injected fault never reached the world, so it is simply tried again. The
    three reads must all get through in one attempt (1 in 8 at half the requests failing), so
    they get many more attempts than a single write."""
    from cwork.errors import CWorkError

    changes: list[Change] = []
    stored = stored_live(stack)
    with stack.client() as client:
        read_attempts = attempts * 10
        for attempt in range(read_attempts):
            try:
                names = {s.handle: s.name for s in client.states()}
                writable = {s.handle for s in client.stations() if s.mdc_mode and not s.disabled}
                current = {s.station_id: s.state.handle for s in client.station_statuses()}
                break
            except CWorkError:
                if attempt == read_attempts - 1:
                    raise
        done = {c.cwork_id for c in changes}
        # Producing machines keep a manual state longest: CWork ends it when production
        # next starts by itself.
        candidates = sorted(
            (writable & current.keys()) - done, key=lambda sid: (current[sid] != PRODUCTION, sid)
        )
        for cwork_id in candidates[:count]:
            state = WAITING if current[cwork_id] != WAITING else SETTING
            for attempt in range(attempts):
                try:
                    client.change_state(cwork_id, state, "fault test")
                    break
                except CWorkError:
                    if attempt == attempts - 1:
                        raise
            before = stored.get(cwork_id, (None, None))[1]
            changes.append(Change(cwork_id, state, names[state], before))
    assert len(changes) == count, f"only {len(changes)} writable stations"
    return changes


def stored_live(stack: FaultStack) -> dict[int, tuple[int | None, datetime]]:
    """CWork station id -> (stored state, changed_at)."""
    rows = stack.query(
        "SELECT s.cwork_id, l.state_cwork_id, l.changed_at FROM stations_livestatus l"
        " JOIN stations_station s ON s.id = l.station_id"
    )
    return {cwork_id: (state, changed_at) for cwork_id, state, changed_at in rows}


def reached_database(stack: FaultStack, changes: list[Change]) -> bool:
    stored = stored_live(stack)
    return all(
        c.cwork_id in stored
        and stored[c.cwork_id][0] == c.state
        and (c.before is None or stored[c.cwork_id][1] > c.before)
        for c in changes
    )
