"""What a second language costs the wall's fan-out after each poll.

``publish_cycle`` renders the changed tiles once per language in use (the plant's, and any a
kiosk screen or a user chose). This times it after real polls of the simulator in which 5 %
of the stations changed state, with one language in use and with two, on the same events,
interleaved round by round so the machine's noise hits both alike. The channel layer is the
in-process one: what is timed is the rendering and the calls, not Redis.

    python bench/wall_languages.py [--stations 500 2000] [--rounds 15] [--out PATH]

Writes bench/results/wall_languages.json and prints one line per size.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from poll_cycle import CHANGED_SHARE, START, configure_django, ms

RESULTS = Path(__file__).resolve().parent / "results" / "wall_languages.json"


def measure(stations: int, rounds: int) -> dict[str, Any]:
    from django.core.cache import cache
    from django.core.management import call_command

    from cwork.client import CWorkClient
    from dashboard.languages import IN_USE_KEY
    from dashboard.wall import publish_cycle
    from simulator import DEMO_API_KEY, ManualClock, Simulator
    from stations.events import StationsChanged
    from stations.jobs import run_job

    call_command("flush", interactive=False, verbosity=0)
    clock = ManualClock(START)
    simulator = Simulator(stations=stations, seed=1, clock=clock, history_days=1)
    world = simulator.world
    writable = [s.handle for s in world.stations if s.mdc_mode and not s.disabled]
    states = [s.handle for s in world.states if not s.archived]
    rng = random.Random(f"wall-languages:{stations}")
    events: list[StationsChanged] = []
    times: dict[str, list[float]] = {"one": [], "two": []}
    changed: list[int] = []

    server = simulator.serve(host="127.0.0.1", port=0)
    try:
        with CWorkClient(server.url, DEMO_API_KEY, server_version="1.16") as client:
            assert run_job("live", client=client, publish=events.append).ok
            for number in range(rounds + 1):
                for handle in rng.sample(writable, round(stations * CHANGED_SHARE)):
                    current = world.status(handle).state
                    world.change_state(handle, rng.choice([s for s in states if s != current]), "")
                clock.advance(2)
                assert run_job("live", client=client, publish=events.append).ok
                event = events[-1]
                order = ("one", "two") if number % 2 else ("two", "one")
                for name in order:
                    cache.set(IN_USE_KEY, ("en",) if name == "one" else ("en", "fr"), 600)
                    started = time.perf_counter()
                    publish_cycle(event)
                    if number:  # the first round warms the templates up
                        times[name].append(time.perf_counter() - started)
                if number:
                    changed.append(len(event.changes))
    finally:
        server.stop()
    one, two = (statistics.median(times[name]) for name in ("one", "two"))
    return {
        "stations": stations,
        "rounds": rounds,
        "changed_median": statistics.median(changed),
        "one_language_median_ms": ms(one),
        "two_languages_median_ms": ms(two),
        "ratio": round(two / one, 2),
    }


def line(run: dict[str, Any]) -> str:
    return (
        f"wall_languages: {run['stations']} stations, {run['changed_median']:g} changed per "
        f"poll: fan-out {run['one_language_median_ms']} ms with one language, "
        f"{run['two_languages_median_ms']} ms with two (x{run['ratio']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    _database, scratch = configure_django()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        runs = [measure(n, args.rounds) for n in args.stations]
    finally:
        connections.close_all()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.platform(), "python": platform.python_version()}
    args.out.write_text(json.dumps({**machine, "runs": runs}, indent=2) + "\n")
    for run in runs:
        print(line(run))


if __name__ == "__main__":
    main()
