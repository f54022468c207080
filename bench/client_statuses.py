"""Fetch and parse every station status through the client, against fetching the raw bytes.

Both run in the same process against the same simulator on a loopback port, interleaved, so
the machine's noise hits both alike; the figure that matters is the ratio of medians.

    python bench/client_statuses.py [--stations 500 2000] [--rounds 30]

Writes bench/results/client_statuses.json and prints one line per size.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import httpx

from cwork.client import CWorkClient
from simulator import DEMO_API_KEY, Simulator

RESULTS = Path(__file__).resolve().parent / "results" / "client_statuses.json"


def measure(stations: int, rounds: int) -> dict[str, float | int]:
    simulator = Simulator(stations=stations, seed=1)
    server = simulator.serve()
    headers = {"Accept": "application/json+v1.16"}
    raw_times, parsed_times, decode_times = [], [], []
    try:
        with (
            httpx.Client(base_url=server.url, auth=(DEMO_API_KEY, ""), headers=headers) as raw,
            CWorkClient(server.url, DEMO_API_KEY, server_version="1.16") as client,
        ):
            body = raw.get("/station_statuses").content  # warm both paths and the world
            client.station_statuses()
            for _ in range(rounds):
                started = time.perf_counter()
                body = raw.get("/station_statuses").content
                raw_times.append(time.perf_counter() - started)

                started = time.perf_counter()
                json.loads(body)
                decode_times.append(time.perf_counter() - started)

                started = time.perf_counter()
                statuses = client.station_statuses()
                parsed_times.append(time.perf_counter() - started)
                assert len(statuses) == stations, "every status parsed"
                assert not statuses.rejected
    finally:
        server.stop()
    raw_median = statistics.median(raw_times)
    parsed_median = statistics.median(parsed_times)
    return {
        "stations": stations,
        "rounds": rounds,
        "body_bytes": len(body),
        "raw_fetch_ms_median": round(raw_median * 1000, 2),
        "json_decode_ms_median": round(statistics.median(decode_times) * 1000, 2),
        "client_fetch_parse_ms_median": round(parsed_median * 1000, 2),
        "client_fetch_parse_ms_p95": round(statistics.quantiles(parsed_times, n=20)[-1] * 1000, 2),
        "ratio_client_to_raw": round(parsed_median / raw_median, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    runs = [measure(n, args.rounds) for n in args.stations]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "runs": runs},
            indent=2,
        )
        + "\n"
    )
    for run in runs:
        print(
            f"client_statuses: {run['stations']} stations, {run['body_bytes'] // 1024} KiB: "
            f"raw fetch {run['raw_fetch_ms_median']} ms, fetch+parse "
            f"{run['client_fetch_parse_ms_median']} ms (x{run['ratio_client_to_raw']} raw)"
        )


if __name__ == "__main__":
    main()
