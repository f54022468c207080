"""From a state change in CWork to every open wall, against a minimal WebSocket broadcaster.

The production processes run on loopback as the deployment runs them: the simulator (500
stations, ``bin/simulator --seed 3``), ``bin/web`` (ONE daphne process), ``bin/worker`` and
``bin/beat`` with ``POLL_INTERVAL=1``, on a PostgreSQL database created for the run and a
Redis database (5) under a prefix of the run's own; both are removed afterwards, as are the
processes, even on failure. The benchmark's process holds 200 WebSocket clients on
``/ws/wall/`` (every station: group ``wall.all.en``), logged in with a session of a user it
creates, and measures three things, interleaved round by round so the machine's noise hits
them alike:

* live: the state of one writable station (MDC mode, not disabled) is changed through CWork's
  API, to a non-archived state other than its current one; the latency is from just before
  that call to the arrival, at each client, of a frame whose ``id="tile-<pk>"`` shows the new
  state. It includes the wait for the next poll (up to one interval): the design target for
  its p95 is the poll interval + 0.25 s.
* stack fan-out: the benchmark sends one ``live.html`` message (a real tile fragment captured
  in the first live round, plus a marker) to group ``wall.all.en`` through the channel layer,
  as ``publish_cycle`` does; latency from that ``group_send`` to the arrival at each client.
  It is sent between two polls (once a poll's heartbeat reached every wall and no frame came
  for 30 ms), so it measures the fan-out alone, not a queue behind a poll's own messages.
* baseline: a minimal broadcaster (``websockets``, one asyncio process, no Django, no
  Channels, no Redis) holding 200 other clients of the same benchmark process; a control
  socket hands it the same bytes and it broadcasts them; latency from the control send to
  the arrival at each client. Design target: the stack's fan-out at most x2 the baseline,
  compared on the median time until the LAST client has the frame.

Rounds start at least 1.3 s apart, so the live changes fall at every phase of the poll. The
CPU time and RSS of the daphne process (and of the broadcaster) come from /proc (or psutil).
Before the rounds, the walls connect 10 at a time, each getting its snapshot: how long that
took, and daphne's CPU per snapshot, are reported too (a handshake daphne refuses is counted
and tried again, as a wall would).
The ``websockets`` package is needed by the benchmark only (``pip install websockets``).

    python bench/wall_fanout.py [--stations 500] [--clients 200] [--rounds 20] [--out PATH]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
Writes bench/results/wall_fanout.json and prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.processes import (
    Processes,
    free_port,
    http_ok,
    listening,
    simulator_answers,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "wall_fanout.json"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 5
API_KEY = "demo-key"
SEED = 3
POLL_INTERVAL = 1.0
#: Least time between the starts of two rounds.
ROUND_SPACING = 1.3
#: Live latency design target: p95 at most one poll interval plus this.
LIVE_SLACK = 0.25
#: Fan-out design target: at most this many times the minimal broadcaster.
FANOUT_MAX_RATIO = 2.0
STARTUP_TIMEOUT = 120.0
#: Concurrent WebSocket handshakes while the clients connect, and tries of each.
CONNECTING_AT_ONCE = 10
CONNECT_TRIES = 5
#: What the processes get from the benchmark's environment: nothing else leaks in.
PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "TMPDIR")
#: No frame at any wall for this long: daphne has sent all it had.
QUIET = 0.03
#: Extra warm-up sends of the stack's and the baseline's fan-out, unmeasured.
WARMUP_SENDS = 2


# --- services: the database, Redis, the processes ------------------------------------------


def pg_connect(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3, autocommit=True
    )


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A PostgreSQL database of this run alone, dropped afterwards."""
    from psycopg import sql

    name = f"bench_fanout_{secrets.token_hex(4)}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with pg_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def bench_redis() -> Iterator[tuple[str, str]]:
    """The Redis URL and a key prefix of this run; its keys are deleted afterwards."""
    import redis

    prefix = f"bench-fanout-{secrets.token_hex(4)}"
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}", prefix
    finally:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# --- CPU and memory of a process -------------------------------------------------------------


def usage(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) and resident memory of a process, now."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        memory = proc.memory_info()
        return {"cpu_s": times.user + times.system, "rss_mb": round(memory.rss / 2**20, 1)}
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state, field 3 of proc(5)
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return {"cpu_s": cpu, "rss_mb": round(rss_kb / 1024, 1)}


def _stat_fields(pid: int) -> list[str]:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (a bin/ script's process and every child)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(_stat_fields(int(entry.name))[2]) == pgid:
                members.append(int(entry.name))
    return members


def group_usage(pgid: int) -> dict[str, float]:
    """CPU seconds (user + system) and resident memory summed over a process group, read from
    /proc/<pid>/stat and /proc/<pid>/status; ``processes`` is how many members it has."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = 0.0
    rss_kb = 0
    count = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, IndexError, ValueError, StopIteration):
            fields = _stat_fields(pid)
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            rss = next((int(x.split()[1]) for x in status if x.startswith("VmRSS:")), 0)
            cpu += (int(fields[11]) + int(fields[12])) / ticks
            rss_kb += rss
            count += 1
    return {"cpu_s": round(cpu, 2), "rss_mb": round(rss_kb / 1024, 1), "processes": count}


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


# --- the minimal broadcaster (a process of its own) -----------------------------------------


def serve_baseline(port: int) -> None:
    """Clients on any path; what the control socket (/control) sends goes to all of them."""
    from websockets.asyncio.server import broadcast, serve

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        if ws.request.path == "/control":
            async for message in ws:
                broadcast(clients, message)
            return
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main() -> None:
        # No compression: daphne negotiates none either, so both send the same bytes.
        async with serve(handler, "127.0.0.1", port, compression=None, max_size=None) as server:
            await server.serve_forever()

    asyncio.run(main())


# --- the clients and what they wait for ------------------------------------------------------


class Watch:
    """One round's expected frame: the first arrival of a matching frame at each client."""

    def __init__(self, clients: int, needle: str, check: Callable[[str], bool] | None = None):
        self.needle = needle
        self.check = check
        self.arrivals: list[float | None] = [None] * clients
        self.remaining = clients
        self.done = asyncio.Event()
        self.frame: str | None = None

    def offer(self, client: int, at: float, text: str) -> None:
        if self.arrivals[client] is not None or self.needle not in text:
            return
        if self.check is not None and not self.check(text):
            return
        self.arrivals[client] = at
        if self.frame is None:
            self.frame = text
        self.remaining -= 1
        if not self.remaining:
            self.done.set()

    async def wait(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)
        return self.done.is_set()

    def latencies(self, since: float) -> list[float]:
        return [at - since for at in self.arrivals if at is not None]


class Fleet:
    """N WebSocket clients of one server, read by one task each."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.watches: list[Watch] = []
        #: What the clients received while ``counting``: frames, characters, and the frames
        #: with a heartbeat, with a tile.
        self.counting = False
        self.frames = 0
        self.bytes = 0
        self.heartbeats = 0
        self.tile_frames = 0
        self.injected = 0
        self.last_frame_at = 0.0
        self.errors: list[str] = []
        #: Handshakes the server refused or dropped (each tried again).
        self.rejected: list[str] = []

    def watch(self, needle: str, check: Callable[[str], bool] | None = None) -> Watch:
        watch = Watch(self.count, needle, check)
        self.watches.append(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        self.watches.remove(watch)

    async def quiet(self, silence: float, timeout: float) -> bool:
        """Wait until no client got a frame for ``silence`` seconds: the server is idle."""
        deadline = time.perf_counter() + timeout
        while (now := time.perf_counter()) < deadline:
            if now - self.last_frame_at >= silence:
                return True
            await asyncio.sleep(silence / 3)
        return False

    async def connect(
        self, url: str, headers: dict[str, str], origin: str | None, first_frame: bool
    ) -> dict[str, Any]:
        """Connect every client (a few handshakes at a time); the first frame is awaited."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake
        from websockets.typing import Origin

        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
        times: list[float] = [0.0] * self.count
        firsts: list[str] = [""] * self.count
        self.sockets = [None] * self.count

        async def one(index: int) -> None:
            async with gate:
                started = time.perf_counter()
                for attempt in range(CONNECT_TRIES):
                    try:
                        ws = await connect(
                            url,
                            origin=Origin(origin) if origin is not None else None,
                            additional_headers=headers,
                            compression=None,
                            proxy=None,
                            max_size=None,
                            max_queue=None,
                            open_timeout=60,
                            ping_interval=None,
                        )
                        break
                    except (InvalidHandshake, OSError) as exc:
                        # Daphne drops a socket still connecting after 5 s (its default
                        # --websocket_connect_timeout) and answers 500 when the consumer fails
                        # (the channel layer's Redis pool exhausted, say): counted, then tried
                        # again as a wall does.
                        self.rejected.append(f"{type(exc).__name__}: {exc}")
                        if attempt == CONNECT_TRIES - 1:
                            raise
                        await asyncio.sleep(0.5)
                self.sockets[index] = ws
                if first_frame:
                    # The snapshot: one message per 150 tiles, the heartbeat in the last.
                    frames = [await asyncio.wait_for(ws.recv(decode=True), 60)]
                    while 'id="wall-heartbeat"' not in frames[-1]:
                        frames.append(await asyncio.wait_for(ws.recv(decode=True), 60))
                    firsts[index] = "".join(frames)
                times[index] = time.perf_counter() - started

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(self.count)))
        wall = time.perf_counter() - started
        self.readers = [asyncio.create_task(self._read(i, ws)) for i, ws in enumerate(self.sockets)]
        return {"all_connected_s": round(wall, 2), "per_client": times, "first_frames": firsts}

    async def _read(self, index: int, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in ws:
                at = time.perf_counter()
                text = message if isinstance(message, str) else message.decode()
                self.last_frame_at = at
                if self.counting:
                    self.frames += 1
                    self.bytes += len(text)
                    self.heartbeats += 'id="wall-heartbeat"' in text
                    if "<!--bench:" in text:
                        self.injected += 1
                    else:
                        self.tile_frames += '<li id="tile-' in text
                for watch in self.watches:
                    watch.offer(index, at, text)
        except ConnectionClosed as exc:
            self.errors.append(f"client {index}: {exc}")

    async def close(self) -> None:
        await asyncio.gather(
            *(ws.close() for ws in self.sockets if ws is not None), return_exceptions=True
        )
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


# --- figures -------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 0.5)),
        "p95_ms": ms(percentile(values, 0.95)),
        "max_ms": ms(max(values)),
        "min_ms": ms(min(values)),
    }


@dataclass
class Series:
    """The latencies of one kind of round: every client's, and each round's first and last."""

    samples: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)
    lasts: list[float] = field(default_factory=list)
    missed: int = 0
    rounds: int = 0

    def add(self, watch: Watch, since: float) -> None:
        latencies = watch.latencies(since)
        self.rounds += 1
        self.missed += watch.remaining
        self.samples.extend(latencies)
        if latencies:
            self.firsts.append(min(latencies))
        if not watch.remaining:
            self.lasts.append(max(latencies))

    def figures(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "receipts": len(self.samples),
            "missed_receipts": self.missed,
            "every_client": spread(self.samples),
            "first_client_per_round": spread(self.firsts),
            "last_client_per_round": spread(self.lasts),
        }


# --- the measurement -----------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    stations: int
    clients: int
    rounds: int
    web_port: int
    baseline_port: int
    cwork_url: str
    session_key: str
    daphne_pid: int
    baseline_pid: int
    #: CWork station id -> the dashboard's station pk, for the writable stations.
    writable: dict[int, int]
    #: CWork state id -> name, for the states not archived.
    states: dict[int, str]


def tile_of(text: str, pk: int) -> str:
    start = text.find(f'<li id="tile-{pk}"')
    if start < 0:
        return ""
    end = text.find("</li>", start)
    return text[start : end + len("</li>")] if end >= 0 else ""


async def measure(setup: Setup) -> dict[str, Any]:
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.utils.html import escape
    from websockets.asyncio.client import connect

    from core import realtime
    from cwork.client import CWorkClient
    from cwork.errors import CWorkAPIError

    rng = random.Random(f"wall-fanout:{SEED}")
    layer = get_channel_layer()
    stack = Fleet("stack", setup.clients)
    base = Fleet("baseline", setup.clients)
    origin = f"http://127.0.0.1:{setup.web_port}"
    cpu: dict[str, Any] = {"daphne_idle": usage(setup.daphne_pid)}
    control = None
    live, injected, broadcast = Series(), Series(), Series()
    cpu_during = {"stack_fanout_s": 0.0, "baseline_fanout_s": 0.0}
    send_calls: dict[str, list[float]] = {"stack": [], "baseline": []}
    not_quiet = 0
    changes: list[dict[str, Any]] = []
    fragment = ""
    try:
        connected = await stack.connect(
            f"ws://127.0.0.1:{setup.web_port}/ws/wall/",
            {"Cookie": f"sessionid={setup.session_key}"},
            origin,
            first_frame=True,
        )
        snapshots = connected.pop("first_frames")
        snapshot_bytes = statistics.median(len(frame.encode()) for frame in snapshots)
        snapshot_tiles = [frame.count('<li id="tile-') for frame in snapshots]
        del snapshots
        if min(snapshot_tiles) != setup.stations:
            raise RuntimeError(f"snapshots with {set(snapshot_tiles)} tiles, not {setup.stations}")
        connect_times = connected.pop("per_client")
        cpu["daphne_connected"] = usage(setup.daphne_pid)
        base_connected = await base.connect(
            f"ws://127.0.0.1:{setup.baseline_port}/", {}, None, first_frame=False
        )
        control = await connect(
            f"ws://127.0.0.1:{setup.baseline_port}/control", compression=None, proxy=None
        )
        await asyncio.sleep(2 * POLL_INTERVAL)  # the connection storm's aftermath settles
        cpu["daphne_before_rounds"] = usage(setup.daphne_pid)
        cpu["baseline_before_rounds"] = usage(setup.baseline_pid)
        wall_started = time.perf_counter()
        stack.counting = True

        async def fan_out(kind: str, number: int, measured: bool) -> None:
            """One send of the captured fragment, by the stack's channel layer or the baseline."""
            marker = f"<!--bench:{kind}:{number}-->"
            fleet = stack if kind == "stack" else base
            pid = setup.daphne_pid if kind == "stack" else setup.baseline_pid
            watch = fleet.watch(marker)
            before = usage(pid)["cpu_s"]
            started = time.perf_counter()
            if kind == "stack":
                await layer.group_send(
                    realtime.language_group(realtime.WALL_ALL_GROUP, settings.LANGUAGE_CODE),
                    realtime.live_html(tail=fragment + marker),
                )
            else:
                await control.send(fragment + marker)
            sent = time.perf_counter() - started
            await watch.wait(5.0)
            fleet.unwatch(watch)
            if measured:
                (injected if kind == "stack" else broadcast).add(watch, started)
                cpu_during[f"{kind}_fanout_s"] += usage(pid)["cpu_s"] - before
                send_calls[kind].append(sent)

        async def between_polls() -> bool:
            """Right after a poll's last message (its heartbeat) reached every wall and daphne
            went idle: the pure fan-outs then run alone, not queued behind a poll's sends."""
            heartbeat = stack.watch('id="wall-heartbeat"')
            await heartbeat.wait(3 * POLL_INTERVAL)
            stack.unwatch(heartbeat)
            return await stack.quiet(QUIET, 3 * POLL_INTERVAL)

        pool = list(setup.writable)
        rng.shuffle(pool)
        picks = itertools.cycle(pool)
        with CWorkClient(setup.cwork_url, API_KEY, retries=0) as client:
            for number in range(setup.rounds):
                round_started = time.perf_counter()
                # Live: a state change in CWork, to the tile at every client. CWork may refuse
                # one (the world moved on): the next station is tried, a few times at most.
                for _attempt in range(5):
                    cwork_id = next(picks)
                    pk = setup.writable[cwork_id]
                    current = client.station_status(cwork_id).state.handle
                    new_state = rng.choice([h for h in setup.states if h != current])
                    # The state line ends with the name, after the category mark.
                    expected = f"</span> {escape(setup.states[new_state])}</p>"

                    def shows_new_state(text: str, pk: int = pk, expected: str = expected) -> bool:
                        return expected in tile_of(text, pk)

                    watch = stack.watch(f'id="tile-{pk}"', shows_new_state)
                    changed = time.perf_counter()
                    try:
                        client.change_state(cwork_id, new_state, "wall fan-out benchmark")
                    except CWorkAPIError as exc:
                        stack.unwatch(watch)
                        changes.append({"station": cwork_id, "refused": str(exc)})
                        continue
                    break
                else:
                    raise RuntimeError("CWork refused 5 state changes in a row")
                call = time.perf_counter() - changed
                await watch.wait(2 * POLL_INTERVAL + 5.0)
                stack.unwatch(watch)
                live.add(watch, changed)
                changes.append(
                    {
                        "station": cwork_id,
                        "pk": pk,
                        "state": new_state,
                        "call_ms": ms(call),
                        "received": setup.clients - watch.remaining,
                    }
                )
                if not fragment and watch.frame:
                    fragment = tile_of(watch.frame, pk)
                    for warmup in range(WARMUP_SENDS):
                        await fan_out("stack", -1 - warmup, measured=False)
                        await fan_out("baseline", -1 - warmup, measured=False)
                # The pure fan-outs, in alternating order, between two polls.
                if fragment:
                    if not await between_polls():
                        not_quiet += 1
                    order = ["stack", "baseline"] if number % 2 == 0 else ["baseline", "stack"]
                    for kind in order:
                        await fan_out(kind, number, measured=True)
                rest = ROUND_SPACING - (time.perf_counter() - round_started)
                if rest > 0:
                    await asyncio.sleep(rest)
        rounds_wall = time.perf_counter() - wall_started
        stack.counting = False
        cpu["daphne_after_rounds"] = usage(setup.daphne_pid)
        cpu["baseline_after_rounds"] = usage(setup.baseline_pid)
    finally:
        if control is not None:
            await control.close()
        await stack.close()
        await base.close()
        await layer.close_pools()

    if not fragment:
        raise RuntimeError("no live round reached the clients: nothing to compare")
    daphne_cpu = cpu["daphne_after_rounds"]["cpu_s"] - cpu["daphne_before_rounds"]["cpu_s"]
    baseline_cpu = cpu["baseline_after_rounds"]["cpu_s"] - cpu["baseline_before_rounds"]["cpu_s"]
    if not (injected.lasts and broadcast.lasts):
        raise RuntimeError("no fan-out reached every client: nothing to compare")
    ratio_last = statistics.median(injected.lasts) / statistics.median(broadcast.lasts)
    ratio_p50 = percentile(injected.samples, 0.5) / percentile(broadcast.samples, 0.5)
    live_target = POLL_INTERVAL + LIVE_SLACK
    live_p95 = percentile(live.samples, 0.95) if live.samples else float("inf")
    return {
        "connect": {
            "stack_all_connected_s": connected["all_connected_s"],
            "stack_per_client_to_snapshot": spread(connect_times),
            "snapshot_bytes": snapshot_bytes,
            "stack_handshakes_at_once": CONNECTING_AT_ONCE,
            "stack_handshakes_rejected": len(stack.rejected),
            "stack_rejections": stack.rejected[:5],
            "daphne_cpu_s_per_snapshot": round(
                (cpu["daphne_connected"]["cpu_s"] - cpu["daphne_idle"]["cpu_s"]) / setup.clients, 3
            ),
            "baseline_all_connected_s": base_connected["all_connected_s"],
        },
        "live": live.figures(),
        "stack_fanout": {
            **injected.figures(),
            "group_send_call": spread(send_calls["stack"]),
            "rounds_not_between_polls": not_quiet,
        },
        "baseline_fanout": {
            **broadcast.figures(),
            "control_send_call": spread(send_calls["baseline"]),
        },
        "fragment_bytes": len(fragment.encode()),
        "changes": changes,
        "client_errors": {"stack": stack.errors[:10], "baseline": base.errors[:10]},
        "received_per_stack_client_per_s_during_rounds": {
            name: round(count / setup.clients / rounds_wall, 2)
            for name, count in (
                ("frames", stack.frames),
                ("kilobytes", stack.bytes / 1024),
                ("with_heartbeat", stack.heartbeats),
                ("with_tiles_from_polls", stack.tile_frames),
                ("injected_by_the_benchmark", stack.injected),
            )
        },
        "daphne": {
            **{k: v for k, v in cpu.items() if k.startswith("daphne")},
            "rounds_wall_s": round(rounds_wall, 1),
            "rounds_cpu_s": round(daphne_cpu, 2),
            "rounds_cpu_percent": round(100 * daphne_cpu / rounds_wall, 1),
            "cpu_s_during_measured_fanouts": round(cpu_during["stack_fanout_s"], 2),
            "cpu_ms_per_fanout": round(1000 * cpu_during["stack_fanout_s"] / injected.rounds, 1),
        },
        "baseline_server": {
            "rounds_cpu_s": round(baseline_cpu, 2),
            "cpu_s_during_measured_fanouts": round(cpu_during["baseline_fanout_s"], 2),
            "cpu_ms_per_fanout": round(
                1000 * cpu_during["baseline_fanout_s"] / broadcast.rounds, 1
            ),
        },
        "targets": {
            "live_p95": {
                "max_ms": ms(live_target),
                "p95_ms": ms(live_p95),
                "met": live_p95 <= live_target and live.missed == 0,
            },
            "fanout_ratio": {
                "max_ratio": FANOUT_MAX_RATIO,
                "ratio_last_client_median": round(ratio_last, 2),
                "ratio_every_client_p50": round(ratio_p50, 2),
                "met": ratio_last <= FANOUT_MAX_RATIO,
            },
        },
    }


# --- the run -------------------------------------------------------------------------------


def prepare_django(env: dict[str, str]) -> None:
    """This process's Django: the run's database and Redis, as the processes have them."""
    for key in ("DJANGO_SETTINGS_MODULE", "DEBUG", "STATIC_ROOT"):
        os.environ.pop(key, None)
    os.environ.update(
        {k: v for k, v in env.items() if k not in ("PATH", *PASSED_THROUGH)},
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def make_session() -> str:
    """A user of the run's own and a logged-in session for it: the session's key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.create_user("bench-wall", password=secrets.token_urlsafe(24))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None, "create() saves the session under a new key"
    return session.session_key


def writable_stations(cwork_url: str) -> tuple[dict[int, int], dict[int, str]]:
    from cwork.client import CWorkClient
    from stations.models import Station

    with CWorkClient(cwork_url, API_KEY) as client:
        handles = [s.handle for s in client.stations() if s.mdc_mode and not s.disabled]
        # As the catalogue sync reads it: CWork gives "Archived" beyond the typed fields.
        states = {s.handle: s.name for s in client.states() if not s.extra.get("Archived")}
    pks = dict(
        Station.objects.filter(cwork_id__in=handles, present_in_cwork=True).values_list(
            "cwork_id", "pk"
        )
    )
    return pks, states


def close_django_connections() -> None:
    with contextlib.suppress(Exception):  # Django may not be set up yet
        from django.db import connections

        connections.close_all()


@dataclass
class Stack:
    """The production processes of a run, on its own database and Redis prefix."""

    processes: Processes
    env: dict[str, str]
    scratch: Path
    database: str
    redis_url: str
    prefix: str
    cwork_url: str
    web_port: int
    baseline_port: int | None
    startup_s: float

    def pid(self, name: str) -> int:
        """The pid (and process group) of the process started under ``name``."""
        return next(p.popen.pid for p in self.processes.running if p.name == name)

    @property
    def groups(self) -> dict[str, int]:
        """Each running process's name -> its process group (its pid: a session of its own)."""
        return {p.name: p.popen.pid for p in self.processes.running}


@contextlib.contextmanager
def running_stack(
    stations: int,
    extra_env: dict[str, str] | None = None,
    baseline: bool = True,
    label: str = "wall-fanout",
) -> Iterator[Stack]:
    """The simulator, bin/web, bin/worker, bin/beat (and the minimal broadcaster) on a fresh
    database and Redis prefix, once the first poll stored every station; this process's Django
    is set up on them. Everything is undone in reverse order, whatever happens: the processes
    are stopped, then Django's connections closed, the Redis keys deleted, the database
    dropped."""
    with contextlib.ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix=f"{label}-"))
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        logs = scratch / "logs"
        logs.mkdir()
        database = cleanup.enter_context(bench_database())
        redis_url, prefix = cleanup.enter_context(bench_redis())
        cleanup.callback(close_django_connections)
        simulator_port, web_port = free_port(), free_port()
        baseline_port = free_port() if baseline else None
        cwork_url = f"http://127.0.0.1:{simulator_port}"
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            PYTHONUNBUFFERED="1",
            DATA_DIR=str(scratch / "data"),
            DATABASE_URL=database,
            REDIS_URL=redis_url,
            CHANNEL_PREFIX=prefix,
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CWORK_URL=cwork_url,
            CWORK_API_KEY=API_KEY,
            POLL_INTERVAL=f"{POLL_INTERVAL:g}",
            HISTORY_BACKFILL_DAYS="1",
            LOG_LEVEL="WARNING",
            BIND="127.0.0.1",
            PORT=str(web_port),
            SIMULATOR_HOST="127.0.0.1",
            SIMULATOR_PORT=str(simulator_port),
            SIMULATOR_STATIONS=str(stations),
        )
        env.update(extra_env or {})
        processes = cleanup.enter_context(Processes(logs, env))
        started = time.perf_counter()
        processes.start("simulator", [str(ROOT / "bin" / "simulator"), "--seed", str(SEED)])
        web = processes.start("web", [str(ROOT / "bin" / "web")])
        if baseline_port is not None:
            processes.start(
                "baseline", [sys.executable, __file__, "--serve-baseline", str(baseline_port)]
            )
        wait_until(
            "the simulator",
            lambda: simulator_answers(cwork_url, API_KEY),
            processes,
            STARTUP_TIMEOUT,
        )
        wait_until(
            "web's /health",
            lambda: http_ok(f"http://127.0.0.1:{web_port}/health"),
            processes,
            STARTUP_TIMEOUT,
        )
        # As in docker-compose.yml: the worker and beat start once web has migrated.
        processes.start("worker", [str(ROOT / "bin" / "worker")])
        processes.start("beat", [str(ROOT / "bin" / "beat")])
        if baseline_port is not None:
            wait_until("the baseline", lambda: listening(baseline_port), processes, 30)
        if "daphne" not in cmdline(web.popen.pid):
            raise RuntimeError(f"bin/web is not daphne: {cmdline(web.popen.pid)}")

        prepare_django(env)
        from stations.models import LiveStatus

        wait_until(
            f"the first poll to store {stations} stations",
            lambda: LiveStatus.objects.count() >= stations,
            processes,
            STARTUP_TIMEOUT,
        )
        yield Stack(
            processes=processes,
            env=env,
            scratch=scratch,
            database=database,
            redis_url=redis_url,
            prefix=prefix,
            cwork_url=cwork_url,
            web_port=web_port,
            baseline_port=baseline_port,
            startup_s=round(time.perf_counter() - started, 1),
        )


def make_setup(stack: Stack, stations: int, clients: int, rounds: int) -> Setup:
    """A session and the writable stations, for ``measure`` on a running stack."""
    if stack.baseline_port is None:
        raise ValueError("measure needs the stack's baseline broadcaster")
    session_key = make_session()
    pks, states = writable_stations(stack.cwork_url)
    if not pks or len(states) < 2:
        raise RuntimeError(f"{len(pks)} writable stations, {len(states)} states")
    close_django_connections()  # the measurement's loop never touches the database
    return Setup(
        stations=stations,
        clients=clients,
        rounds=rounds,
        web_port=stack.web_port,
        baseline_port=stack.baseline_port,
        cwork_url=stack.cwork_url,
        session_key=session_key,
        daphne_pid=stack.pid("web"),
        baseline_pid=stack.pid("baseline"),
        writable=pks,
        states=states,
    )


SETUP_TEXT = (
    "simulator, bin/web (one daphne), bin/worker, bin/beat on PostgreSQL and "
    "Redis, loopback; clients and channel-layer sends in the benchmark process; "
    "baseline: websockets broadcast() in a process of its own"
)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with running_stack(args.stations) as stack:
        setup = make_setup(stack, args.stations, args.clients, args.rounds)
        figures = asyncio.run(measure(setup))
        stack.processes.check_alive()
        return {
            "stations": args.stations,
            "clients": args.clients,
            "poll_interval_s": POLL_INTERVAL,
            "setup": SETUP_TEXT,
            "startup_s": stack.startup_s,
            **figures,
        }
    raise AssertionError("unreachable")


def line(result: dict[str, Any]) -> str:
    live = result["live"]["every_client"]
    stack = result["stack_fanout"]["last_client_per_round"]
    base = result["baseline_fanout"]["last_client_per_round"]
    t = result["targets"]
    live_met = "met" if t["live_p95"]["met"] else "MISSED"
    fan_met = "met" if t["fanout_ratio"]["met"] else "MISSED"
    d, c = result["daphne"], result["connect"]
    return (
        f"wall_fanout: {result['stations']} stations, {result['clients']} walls, "
        f"{result['live']['rounds']} rounds: change->wall p50 {live['p50_ms']} ms, "
        f"p95 {live['p95_ms']} ms, max {live['max_ms']} ms (target p95 <= "
        f"{t['live_p95']['max_ms']:g} ms: {live_met}; {result['live']['missed_receipts']} missed); "
        f"fan-out to the last wall median {stack['p50_ms']} ms vs minimal broadcaster "
        f"{base['p50_ms']} ms: x{t['fanout_ratio']['ratio_last_client_median']} (target "
        f"x{FANOUT_MAX_RATIO:g}: {fan_met}); daphne {d['cpu_ms_per_fanout']} ms CPU per fan-out, "
        f"{d['rounds_cpu_percent']}% CPU in rounds, RSS {d['daphne_idle']['rss_mb']}->"
        f"{d['daphne_after_rounds']['rss_mb']} MB; {result['clients']} snapshots took "
        f"{c['stack_all_connected_s']} s ({ms(c['daphne_cpu_s_per_snapshot']):g} ms CPU each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    if args.rounds < 2 or args.clients < 1 or args.stations < 1:
        parser.error("--rounds must be at least 2, --clients and --stations at least 1")
    try:
        import websockets  # noqa: F401
    except ImportError:
        sys.exit("wall_fanout: needs the websockets package (pip install websockets)")

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), **result},
            indent=2,
        )
        + "\n"
    )
    print(line(result))


if __name__ == "__main__":
    main()
