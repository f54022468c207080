"""A long CWork outage under the production processes: stale, back-off, recovery, history.

The same scenario as ``tests/e2e/test_faults.py``'s outage test, with outages too long for the
suite (60 s and 600 s of real time by default): ``bin/simulator`` (30 stations), a
``redis-server`` of the run's own on a free port, a counting proxy between the dashboard and
the simulator, ``bin/web``, ``bin/worker`` and ``bin/beat`` with a one second poll, on a
PostgreSQL database created for the run (dropped afterwards). For each outage it reports the
requests CWork received during it (against the back-off's budget and what a poll every
interval would make), the time until ``/health?fresh`` said stale, the time until it was fresh
again after the outage ended, and whether the stored history then equals CWork's.

    python bench/outage.py [--outage 60 --outage 600] [--out PATH]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and ``redis-server`` installed.
Writes bench/results/outage.json and prints one summary line per outage.
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from psycopg import sql  # noqa: E402

from devtools.processes import wait_until  # noqa: E402
from tests.e2e.conftest import PG_HOST, PG_PORT, PG_USER, pg_connect  # noqa: E402
from tests.e2e.faults import start_stack, stop_stack, stored_live  # noqa: E402
from tests.e2e.test_faults import (  # noqa: E402
    SETTINGS,
    STARTUP_TIMEOUT,
    STATIONS,
    outage_scenario,
    summary,
)

RESULTS = ROOT / "bench" / "results" / "outage.json"


def run(outages: list[float]) -> list[dict[str, Any]]:
    name = f"dashboard_bench_outage_{secrets.token_hex(4)}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
            stack = start_stack(
                Path(tmp),
                f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}",
                f"bench-outage-{secrets.token_hex(4)}",
                stations=STATIONS,
                settings=SETTINGS,
                simulator_args=["--history-days", "2"],
            )
            try:
                wait_until(
                    "the first poll",
                    lambda: len(stored_live(stack)) == STATIONS,
                    stack.processes,
                    STARTUP_TIMEOUT,
                )
                for seconds in outages:
                    stack.clear_faults()
                    since = datetime.now(UTC)
                    wait_until(
                        "a successful poll before the outage",
                        partial(stack.ok_live_since, since),
                        stack.processes,
                        60,
                    )
                    result = outage_scenario(
                        stack,
                        seconds,
                        lambda s, what, check, t: wait_until(what, check, s.processes, t),
                    )
                    result["history_problems"] = result["history_problems"][:20]
                    results.append(result)
                    print(summary(result), flush=True)
            except BaseException:
                print(stack.processes.report(), file=sys.stderr)
                raise
            finally:
                stop_stack(stack)
    finally:
        with pg_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outage", type=float, action="append", help="seconds (repeatable; default 60 and 600)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.time()
    results = run(args.outage or [60.0, 600.0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "outage",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "settings": SETTINGS,
                "stations": STATIONS,
                "seconds": round(time.time() - started, 1),
                "outages": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
