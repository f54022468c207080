"""Load matrix: stations x WebSocket walls, with the poll cycle and every process's CPU and RSS.

Each cell runs bench/wall_fanout.py's measurement (its ``running_stack`` and ``measure``: the
simulator, bin/web (one daphne), bin/worker, bin/beat with ``POLL_INTERVAL=1`` on a database
and Redis prefix of the cell's own, N clients on ``/ws/wall/``, live rounds change -> tile,
and the same fragment fanned out by the stack and by the minimal ``websockets`` broadcaster)
on a fresh stack, and adds:

* the poll cycle: the durations of the ``live`` poll records (``PollRecord``) started during
  the measured rounds, and during the whole cell;
* CPU (% of one core) and RSS of each process group (daphne, worker, beat, simulator, and the
  baseline broadcaster; children included), sampled every second from /proc/<pid>/stat and
  /proc/<pid>/status: CPU over the measured rounds and over the whole measurement (connection
  storm included), RSS at the end and at its peak.

Targets: change -> tile p95 at most the poll interval + 0.25 s; the worker under 30 % of one
core at 2,000 stations; daphne under 300 MB RSS with 1,000 sockets; the stack's fan-out at
most x2 the minimal broadcaster (wall_fanout's own target, reported alongside).

    python bench/load.py [--stations 500 2000] [--clients 200 1000] [--rounds 20]
                         [--cells 500x200,2000x1000] [--pythonpath]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, and websockets. Writes
bench/results/load-<stations>x<clients>.json per cell and bench/results/load.json (every cell
of the run), and prints one line per cell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wall_fanout import (
    FANOUT_MAX_RATIO,
    LIVE_SLACK,
    POLL_INTERVAL,
    ROOT,
    SETUP_TEXT,
    Stack,
    close_django_connections,
    group_usage,
    make_setup,
    measure,
    ms,
    running_stack,
    spread,
)

RESULTS = ROOT / "bench" / "results"
#: The processes sampled (the names ``running_stack`` starts them under) -> the report's names.
PROCESSES = {
    "web": "daphne",
    "worker": "worker",
    "beat": "beat",
    "simulator": "simulator",
    "baseline": "baseline_broadcaster",
}
WORKER_MAX_CPU_PERCENT = 30.0
WORKER_TARGET_STATIONS = 2000
DAPHNE_MAX_RSS_MB = 300.0
DAPHNE_TARGET_SOCKETS = 1000
SAMPLE_EVERY = 1.0


class Sampler:
    """CPU seconds and RSS of each process group, every second, in a thread of its own."""

    def __init__(self, stack: Stack) -> None:
        self.groups = {label: stack.groups[name] for name, label in PROCESSES.items()}
        self.samples: list[tuple[float, dict[str, dict[str, float]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def take(self) -> None:
        now = time.monotonic()
        self.samples.append((now, {k: group_usage(pgid) for k, pgid in self.groups.items()}))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.take()

    def __enter__(self) -> Sampler:
        self.take()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.take()

    def figures(self, last_seconds: float) -> dict[str, Any]:
        """Per process: CPU % over the whole sampling and over its last ``last_seconds``
        (the measured rounds), RSS at the end and at its peak."""
        first_at, first = self.samples[0]
        end_at, end = self.samples[-1]
        since = end_at - last_seconds
        start_at, start = min(self.samples, key=lambda s: abs(s[0] - since))
        result: dict[str, Any] = {}
        for label in self.groups:
            result[label] = {
                "cpu_percent_rounds": round(
                    100 * (end[label]["cpu_s"] - start[label]["cpu_s"]) / (end_at - start_at), 1
                ),
                "cpu_percent_whole": round(
                    100 * (end[label]["cpu_s"] - first[label]["cpu_s"]) / (end_at - first_at), 1
                ),
                "rss_mb_end": end[label]["rss_mb"],
                "rss_mb_peak": max(s[label]["rss_mb"] for _, s in self.samples),
                "rss_mb_start": first[label]["rss_mb"],
                "processes": end[label]["processes"],
            }
        result["sampled_s"] = round(end_at - first_at, 1)
        result["rounds_window_s"] = round(end_at - start_at, 1)
        return result


def poll_cycle(since: datetime) -> dict[str, Any]:
    from stations.models import PollRecord

    rows = list(
        PollRecord.objects.filter(kind="live", started_at__gte=since).values_list(
            "duration", "ok", "stations_changed"
        )
    )
    durations = [d for d, ok, _ in rows if ok]
    return {
        "polls": len(rows),
        "failed": sum(not ok for _, ok, _ in rows),
        "duration": spread(durations),
        "mean_ms": ms(statistics.fmean(durations)) if durations else None,
        "stations_changed_per_poll_median": (
            statistics.median(c for _, ok, c in rows if ok) if durations else None
        ),
    }


def run_cell(stations: int, clients: int, rounds: int, extra_env: dict[str, str]) -> dict[str, Any]:
    with running_stack(stations, extra_env, label=f"load-{stations}x{clients}") as stack:
        setup = make_setup(stack, stations, clients, rounds)
        cell_started = datetime.now(UTC)
        with Sampler(stack) as sampler:
            figures = asyncio.run(measure(setup))
        cell_ended = datetime.now(UTC)
        stack.processes.check_alive()
        rounds_wall = figures["daphne"]["rounds_wall_s"]
        processes = sampler.figures(rounds_wall)
        polls = {
            "during_rounds": poll_cycle(cell_ended - timedelta(seconds=rounds_wall)),
            "whole_cell": poll_cycle(cell_started),
        }
        close_django_connections()
        return {
            "stations": stations,
            "clients": clients,
            "poll_interval_s": POLL_INTERVAL,
            "setup": SETUP_TEXT,
            "startup_s": stack.startup_s,
            "poll_cycle": polls,
            "processes": processes,
            **figures,
        }
    raise AssertionError("unreachable")


def targets(cell: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets for this cell (those that apply to its size)."""
    live = cell["live"]
    p95 = live["every_client"].get("p95_ms")
    result: dict[str, Any] = {
        "live_p95": {
            "max_ms": ms(POLL_INTERVAL + LIVE_SLACK),
            "p95_ms": p95,
            "missed_receipts": live["missed_receipts"],
            "met": p95 is not None
            and p95 <= ms(POLL_INTERVAL + LIVE_SLACK)
            and not live["missed_receipts"],
        },
        "fanout_ratio": cell["targets"]["fanout_ratio"],
    }
    worker = cell["processes"]["worker"]["cpu_percent_rounds"]
    result["worker_cpu"] = {
        "max_percent_of_one_core": WORKER_MAX_CPU_PERCENT,
        "percent": worker,
        "applies": cell["stations"] >= WORKER_TARGET_STATIONS,
        "met": worker < WORKER_MAX_CPU_PERCENT,
    }
    daphne = cell["processes"]["daphne"]["rss_mb_peak"]
    result["daphne_rss"] = {
        "max_mb": DAPHNE_MAX_RSS_MB,
        "peak_mb": daphne,
        "applies": cell["clients"] >= DAPHNE_TARGET_SOCKETS,
        "met": daphne < DAPHNE_MAX_RSS_MB,
    }
    return result


def line(cell: dict[str, Any]) -> str:
    if "error" in cell:
        return f"load {cell['stations']}x{cell['clients']}: FAILED: {cell['error'][:200]}"
    live = cell["live"]["every_client"]
    t = cell["load_targets"]
    p = cell["processes"]
    poll = cell["poll_cycle"]["during_rounds"]["duration"]
    stack = cell["stack_fanout"]["last_client_per_round"]
    base = cell["baseline_fanout"]["last_client_per_round"]

    def verdict(name: str) -> str:
        target = t[name]
        word = "met" if target["met"] else "MISSED"
        return word if target.get("applies", True) else f"{word}, n/a at this size"

    return (
        f"load {cell['stations']} stations x {cell['clients']} walls: poll cycle p50 "
        f"{poll.get('p50_ms')} ms p95 {poll.get('p95_ms')} ms max {poll.get('max_ms')} ms; "
        f"change->tile p50 {live['p50_ms']} p95 {live['p95_ms']} max {live['max_ms']} ms "
        f"(p95 <= {t['live_p95']['max_ms']:g}: {verdict('live_p95')}); CPU % of a core in "
        f"rounds daphne {p['daphne']['cpu_percent_rounds']} worker "
        f"{p['worker']['cpu_percent_rounds']} (< {WORKER_MAX_CPU_PERCENT:g}: "
        f"{verdict('worker_cpu')}) beat {p['beat']['cpu_percent_rounds']} simulator "
        f"{p['simulator']['cpu_percent_rounds']}; RSS peak MB daphne {p['daphne']['rss_mb_peak']} "
        f"(< {DAPHNE_MAX_RSS_MB:g}: {verdict('daphne_rss')}) worker {p['worker']['rss_mb_peak']} "
        f"beat {p['beat']['rss_mb_peak']} simulator {p['simulator']['rss_mb_peak']}; fan-out to "
        f"the last wall {stack['p50_ms']} ms vs minimal broadcaster {base['p50_ms']} ms "
        f"(x{t['fanout_ratio']['ratio_last_client_median']}, target x{FANOUT_MAX_RATIO:g}: "
        f"{'met' if t['fanout_ratio']['met'] else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--clients", type=int, nargs="+", default=[200, 1000])
    parser.add_argument(
        "--cells", help="only these cells, e.g. 500x200,2000x1000 (instead of the matrix)"
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--pythonpath",
        action="store_true",
        help="put this tree first on every process's PYTHONPATH (a copy of the repository)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cells:
        cells = [tuple(int(x) for x in cell.split("x")) for cell in args.cells.split(",")]
    else:
        cells = [(s, c) for s in args.stations for c in args.clients]
    # Two sockets per client (the stack's and the baseline's) and then some.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * max(c for _, c in cells) + 1024
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, 8192)), hard))

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.cell:
        stations, clients = (int(x) for x in args.cell.split("x"))
        extra_env = {"PYTHONPATH": str(ROOT)} if args.pythonpath else {}
        started = time.perf_counter()
        try:
            cell = run_cell(stations, clients, args.rounds, extra_env)
            cell["load_targets"] = targets(cell)
        except Exception as exc:  # the next cells still run; the failure is in the results
            cell = {
                "stations": stations,
                "clients": clients,
                "error": f"{type(exc).__name__}: {exc}",
            }
        cell["cell_wall_s"] = round(time.perf_counter() - started, 1)
        cell["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        document = {"machine": platform.platform(), "python": platform.python_version(), **cell}
        cell_path(args.out, stations, clients).write_text(json.dumps(document, indent=2) + "\n")
        print(line(cell), flush=True)
        return
    # One process per cell: Django's settings (the cell's database) are set up once a process.
    results = []
    for stations, clients in cells:
        path = cell_path(args.out, stations, clients)
        path.unlink(missing_ok=True)
        command = [sys.executable, __file__, "--cell", f"{stations}x{clients}"]
        command += ["--rounds", str(args.rounds), "--out", str(args.out)]
        command += ["--pythonpath"] if args.pythonpath else []
        subprocess.run(command, check=False)  # noqa: S603 - this script, this interpreter
        if path.exists():
            results.append(json.loads(path.read_text()))
        else:
            results.append({"stations": stations, "clients": clients, "error": "no result"})
        args.out.write_text(json.dumps({"cells": results}, indent=2) + "\n")


def cell_path(out: Path, stations: int, clients: int) -> Path:
    return out.parent / f"load-{stations}x{clients}.json"


if __name__ == "__main__":
    main()
