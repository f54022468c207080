"""One live poll cycle, against fetching and parsing the statuses alone.

For each size, three situations are timed in the same run, interleaved round by round so the
machine's noise hits them alike:

* baseline: ``client.station_statuses()`` (the request and the parse, nothing stored);
* unchanged: ``run_job("live")`` when no status changed since the last cycle;
* changed: ``run_job("live")`` after 5 % of the stations changed state (``change_state`` on
  stations in MDC mode, as an operator would from a terminal).

``poll_live`` alone (no lock, no poll record) is timed too, in both polling situations. The
simulator serves over HTTP on a loopback port with a frozen clock (so "unchanged" really is),
and one client serves the baseline and the polls. SQL queries are counted in one extra,
untimed cycle of each situation. Design-guide targets: a cycle at most x1.5 the baseline when
nothing changed, x3 when 5 % changed; missing them is reported, not an error.

    python bench/poll_cycle.py [--stations 500 2000] [--rounds 30] [--out PATH]

The database is a throwaway SQLite file in a temporary directory. For PostgreSQL give
``BENCH_DATABASE_URL=postgres://...``: that database is migrated and EMPTIED (every table is
flushed) before each size, so never point it at real data. A ``DATABASE_URL`` without
``BENCH_DATABASE_URL`` is refused rather than written to. The job's lock lives in the cache
the settings give (memory, or Redis when ``REDIS_URL`` is set).

Writes bench/results/poll_cycle.json and prints one line per size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stations.run_report import RunReport

RESULTS = Path(__file__).resolve().parent / "results" / "poll_cycle.json"
#: A Tuesday morning, mid-shift: most stations are working.
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CHANGED_SHARE = 0.05
TARGETS = {"unchanged": 1.5, "changed": 3.0}


def configure_django() -> tuple[str, Path | None]:
    """Point Django at a throwaway database before setup: its label, and a directory to remove."""
    scratch = None
    bench_url = os.environ.get("BENCH_DATABASE_URL")
    if bench_url:
        os.environ["DATABASE_URL"] = bench_url
        # Production mode wants these; the benchmark serves no page and calls no CWork.
        os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 32)
        os.environ.setdefault("ALLOWED_HOSTS", "localhost")
        os.environ.setdefault("CWORK_URL", "http://127.0.0.1:9")
        os.environ.setdefault("CWORK_API_KEY", "bench")
        label = "postgresql"
    elif os.environ.get("DATABASE_URL"):
        sys.exit(
            "poll_cycle: DATABASE_URL is set; this benchmark empties the database it runs on. "
            "Give a throwaway one as BENCH_DATABASE_URL instead."
        )
    else:
        scratch = Path(tempfile.mkdtemp(prefix="poll-cycle-"))
        os.environ["DATA_DIR"] = str(scratch)
        label = "sqlite"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return label, scratch


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": ms(statistics.median(times)),
        "p90_ms": ms(statistics.quantiles(times, n=10)[-1]),
        "min_ms": ms(min(times)),
    }


def measure(stations: int, rounds: int, database: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cwork.client import CWorkClient
    from simulator import DEMO_API_KEY, ManualClock, Simulator
    from stations.events import StationsChanged
    from stations.jobs import run_job
    from stations.live import poll_live
    from stations.models import LiveStatus, Station

    call_command("flush", interactive=False, verbosity=0)
    simulator = Simulator(stations=stations, seed=1, clock=ManualClock(START), history_days=1)
    world = simulator.world
    writable = [s.handle for s in world.stations if s.mdc_mode and not s.disabled]
    states = [s.handle for s in world.states if not s.archived]
    to_change = round(stations * CHANGED_SHARE)
    assert len(writable) >= to_change, "enough stations in MDC mode"
    rng = random.Random(f"poll-cycle:{stations}")
    events: list[StationsChanged] = []

    def nothing() -> int:
        return 0

    def change_some() -> int:
        """Change the state of 5 % of the stations, as operators would at their terminals."""
        picked = rng.sample(writable, to_change)
        for handle in picked:
            current = world.status(handle).state
            world.change_state(handle, rng.choice([s for s in states if s != current]), "bench")
        world.statuses()  # CWork's own recompute happens on its machine, not in our cycle
        # As after a history sync: the poll's history_due update really flips rows.
        Station.objects.filter(cwork_id__in=picked).update(history_due=False)
        return len(picked)

    server = simulator.serve(host="127.0.0.1", port=0)
    try:
        with CWorkClient(server.url, DEMO_API_KEY, server_version="1.16") as client:

            def fetch() -> None:
                statuses = client.station_statuses()
                assert len(statuses) == stations
                assert not statuses.rejected

            def job() -> RunReport:
                result = run_job("live", client=client, publish=events.append)
                assert result.ok, result.reason
                assert result.outcome is not None
                return result.outcome

            def live() -> RunReport:
                return poll_live(client)

            # The first cycle learns the catalogue and stores every station: not measured.
            first = job()
            assert first.stations_changed == stations, first
            assert LiveStatus.objects.count() == stations
            Station.objects.update(history_due=False)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")  # as autovacuum would have by now

            #: name: (untimed preparation, timed call)
            situations: dict[str, tuple[Callable[[], int], Callable[[], Any]]] = {
                "baseline": (nothing, fetch),
                "unchanged": (nothing, job),
                "changed": (change_some, job),
                "poll_live_unchanged": (nothing, live),
                "poll_live_changed": (change_some, live),
            }

            def once(name: str, capture: bool = False) -> tuple[float, int, list[str]]:
                prepare, call = situations[name]
                expected = prepare()
                published = len(events)
                with CaptureQueriesContext(connection) if capture else nullcontext() as sql:
                    started = time.perf_counter()
                    outcome = call()
                    elapsed = time.perf_counter() - started
                if call is fetch:
                    return elapsed, 0, []
                assert outcome.stations_seen == stations, outcome
                assert outcome.stations_changed == expected, (outcome.stations_changed, expected)
                assert not outcome.problems, outcome.problems
                if call is job:
                    # Every successful cycle publishes once: its changes, or none (the heartbeat).
                    assert len(events) - published == 1, "one event per cycle"
                    assert len(events[-1].changes) == expected
                queries = [q["sql"][:160] for q in sql.captured_queries] if sql is not None else []
                return elapsed, outcome.rows_written, queries

            for name in situations:  # warm every path once
                once(name)
            times: dict[str, list[float]] = {name: [] for name in situations}
            rows: dict[str, list[int]] = {name: [] for name in situations}
            events_before = len(events)
            started = time.perf_counter()
            for _ in range(rounds):
                for name in situations:
                    elapsed, written, _ = once(name)
                    times[name].append(elapsed)
                    rows[name].append(written)
            wall = time.perf_counter() - started
            published = len(events) - events_before
            # Counted apart, untimed: capturing slows every query down.
            queries = {name: once(name, capture=True)[2] for name in situations}
    finally:
        server.stop()

    figures = {
        name: {
            **summary(times[name]),
            "queries": len(queries[name]),
            "rows_written_median": statistics.median(rows[name]),
        }
        for name in situations
    }
    base = statistics.median(times["baseline"])
    ratios = {
        name: round(statistics.median(times[name]) / base, 2)
        for name in situations
        if name != "baseline"
    }
    return {
        "stations": stations,
        "database": database,
        "rounds": rounds,
        "stations_changed_per_changed_cycle": to_change,
        "events_published": published,
        "wall_s": round(wall, 1),
        "situations": figures,
        "ratios_to_baseline": ratios,
        "targets": {
            name: {"max_ratio": limit, "ratio": ratios[name], "met": ratios[name] <= limit}
            for name, limit in TARGETS.items()
        },
        "sql": queries,
    }


def line(run: dict[str, Any]) -> str:
    s, t = run["situations"], run["targets"]

    def verdict(name: str) -> str:
        met = "met" if t[name]["met"] else "MISSED"
        return f"x{t[name]['ratio']} (target x{t[name]['max_ratio']}: {met})"

    return (
        f"poll_cycle: {run['stations']} stations on {run['database']}: fetch+parse "
        f"{s['baseline']['median_ms']} ms; run_job unchanged {s['unchanged']['median_ms']} ms "
        f"{verdict('unchanged')}, {s['unchanged']['queries']} queries; 5% changed "
        f"{s['changed']['median_ms']} ms {verdict('changed')}, {s['changed']['queries']} queries, "
        f"{s['changed']['rows_written_median']:g} rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")
    database, scratch = configure_django()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        runs = [measure(n, args.rounds, database) for n in args.stations]
    finally:
        connections.close_all()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "runs": runs},
            indent=2,
        )
        + "\n"
    )
    for run in runs:
        print(line(run))


if __name__ == "__main__":
    main()
