"""The production deployment, end to end: the simulator, web, worker and beat as processes.

They are started with the very scripts docker-compose.yml runs (``bin/*``), on PostgreSQL and
Redis, and a state changed in CWork must reach the database and, as the station's tile, the
walls' group on the channel layer.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer

from core import realtime
from cwork.client import CWorkClient
from devtools.processes import Process, http_ok, simulator_answers, wait_until
from tests.lookups import present

from .conftest import Processes, free_port, pg_connect, process_env

pytestmark = pytest.mark.slow

STATIONS = 8
API_KEY = "demo-key"
SECRET_KEY = "e2e-test-only-secret-key-never-used-anywhere-else-0123456789"
#: CWork's standard states (never archived): production, setting and waiting.
PRODUCTION, SETTING, WAITING = 0, 2, 3
STARTUP_TIMEOUT = 60.0
#: From the change in CWork to the database and the walls: a poll a second, so a few seconds.
PROPAGATION_TIMEOUT = 10.0


@dataclass(frozen=True)
class Stack:
    processes: Processes
    database: str
    redis_url: str
    prefix: str
    cwork_url: str
    web_url: str

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` until it returns something truthy; fail if a process dies."""
        try:
            return wait_until(what, check, self.processes, timeout)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, e2e_database: str, e2e_redis: tuple[str, str]
) -> Iterator[Stack]:
    redis_url, prefix = e2e_redis
    simulator_port, web_port = free_port(), free_port()
    cwork_url = f"http://127.0.0.1:{simulator_port}"
    env = process_env(
        tmp_path / "data",
        DATABASE_URL=e2e_database,
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=prefix,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CWORK_URL=cwork_url,
        CWORK_API_KEY=API_KEY,
        POLL_INTERVAL="1",
        HISTORY_BACKFILL_DAYS="1",
        BIND="127.0.0.1",
        PORT=str(web_port),
        SIMULATOR_HOST="127.0.0.1",
        SIMULATOR_PORT=str(simulator_port),
        SIMULATOR_STATIONS=str(STATIONS),
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs, env)
    request.node.e2e_processes = processes
    stack = Stack(
        processes, e2e_database, redis_url, prefix, cwork_url, f"http://127.0.0.1:{web_port}"
    )
    try:
        processes.start("simulator")
        processes.start("web")
        stack.wait_until(
            "the simulator", lambda: simulator_answers(cwork_url, API_KEY), STARTUP_TIMEOUT
        )
        # As in docker-compose.yml: the worker and beat start once web has migrated.
        stack.wait_until(
            "web's /health", lambda: http_ok(f"{stack.web_url}/health"), STARTUP_TIMEOUT
        )
        processes.start("worker")
        processes.start("beat")
        yield stack
    finally:
        processes.stop_all()
    assert not processes.leftovers(), "processes left running after the test"


def stored_states(database: str) -> dict[int, int | None]:
    """CWork station id -> CWork state id, as the worker stored them."""
    with pg_connect(database.rsplit("/", 1)[1]) as conn:
        rows = conn.execute(
            "SELECT s.cwork_id, l.state_cwork_id FROM stations_livestatus l"
            " JOIN stations_station s ON s.id = l.station_id"
        ).fetchall()
    return dict(rows)


#: The group of every wall showing all stations, in the plant's language (LANGUAGE: "en").
WALLS = realtime.language_group(realtime.WALL_ALL_GROUP, "en")


def station_pk(database: str, cwork_id: int) -> int:
    with pg_connect(database.rsplit("/", 1)[1]) as conn:
        row = conn.execute("SELECT id FROM stations_station WHERE cwork_id = %s", [cwork_id])
        return present(row.fetchone())[0]


async def next_tile_in_state(
    layer: RedisChannelLayer, channel: str, pk: int, state_name: str, timeout: float
) -> dict[str, Any]:
    """The first wall message with the station's tile showing ``state_name``."""
    shown = f" {html.escape(state_name)}</p>"
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no tile of station {pk} in {state_name!r} within {timeout:g} s")
        try:
            message = await asyncio.wait_for(layer.receive(channel), remaining)
        except TimeoutError:
            continue
        assert message["type"] == realtime.LIVE_HTML
        for station_id, tile in message["parts"]:
            if station_id == pk and f'id="tile-{pk}"' in tile and shown in tile:
                return message


async def change_state_end_to_end(stack: Stack) -> dict[str, float]:
    layer = RedisChannelLayer(hosts=[stack.redis_url], prefix=stack.prefix)
    channel = await layer.new_channel()
    await layer.group_add(WALLS, channel)
    try:
        started = time.monotonic()
        stack.wait_until(
            f"the worker to store {STATIONS} stations",
            lambda: len(stored_states(stack.database)) == STATIONS,
            STARTUP_TIMEOUT,
        )
        timings = {"first poll stored": time.monotonic() - started}

        with CWorkClient(stack.cwork_url, API_KEY, retries=0) as client:
            names = {state.handle: state.name for state in client.states()}
            assert {PRODUCTION, SETTING, WAITING} <= names.keys()
            writable = {s.handle for s in client.stations() if s.mdc_mode and not s.disabled}
            current = {s.station_id: s.state.handle for s in client.station_statuses()}
            # A producing machine keeps a manual state longest: CWork ends it when
            # production next starts by itself.
            cwork_id = min(
                writable & current.keys(), key=lambda sid: (current[sid] != PRODUCTION, sid)
            )
            new_state = WAITING if current[cwork_id] != WAITING else SETTING
            pk = station_pk(stack.database, cwork_id)
            changed = time.monotonic()
            client.change_state(cwork_id, new_state, "end-to-end test")

        await next_tile_in_state(layer, channel, pk, names[new_state], PROPAGATION_TIMEOUT)
        timings["tile received"] = time.monotonic() - changed

        stack.wait_until(
            f"state {new_state} of station {cwork_id} in stations_livestatus",
            lambda: stored_states(stack.database).get(cwork_id) == new_state,
            PROPAGATION_TIMEOUT,
        )
        timings["state stored"] = time.monotonic() - changed
        return timings
    finally:
        await layer.group_discard(WALLS, channel)
        await layer.flush()
        await layer.close_pools()


def test_state_change_reaches_database_and_channel_layer(stack: Stack) -> None:
    timings = asyncio.run(change_state_end_to_end(stack))
    print(", ".join(f"{name} after {seconds:.1f} s" for name, seconds in timings.items()))
    assert timings["tile received"] < PROPAGATION_TIMEOUT
    # SITE_URL is not set here: web (before daphne starts) and the worker (once ready) say so.
    for process in stack.processes.running:
        if process.name in ("web", "worker"):

            def warned(process: Process = process) -> bool:
                return "(dashboard.W001) SITE_URL is not set" in process.output()

            stack.wait_until(
                f"{process.name} to warn that SITE_URL is not set", warned, STARTUP_TIMEOUT
            )
