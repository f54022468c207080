"""Soak: the whole stack for an hour, with walls and one real browser, watched for growth.

The production processes run as in bench/wall_fanout.py (its ``running_stack``: the
simulator, bin/web (one daphne), bin/worker, bin/beat with ``POLL_INTERVAL=1``, on a
PostgreSQL database and a Redis prefix of the run's own, removed afterwards), with the
simulator sped up (``SIMULATOR_SPEED``, 60 by default: an hour covers 60 simulated hours, many
shifts). The soak holds N WebSocket walls on ``/ws/wall/`` (200 by default, one asyncio
reader each) and ONE Chromium page on ``/wall/``, logged in through the login page as a user
created with ``manage.py shell -c`` on the run's database.

Every ``--every`` seconds (30) it samples:

* CPU and RSS of each process group (daphne, worker, beat, simulator; children included),
  from /proc/<pid>/stat and /proc/<pid>/status, and of the Chromium processes;
* daphne's established TCP connections (its listening port, from /proc/net/tcp and tcp6),
  and each process group's TCP connections to PostgreSQL and Redis (its socket inodes);
* PostgreSQL ``pg_stat_activity`` rows of the run's database (the soak's own sampling
  connection left out) and Redis ``INFO clients`` connected_clients (server-wide: other
  users of that Redis count too, so it is shown, not judged);
* the page's JS heap, DOM nodes, listeners (CDP ``Performance.getMetrics``, after a forced
  garbage collection: ``HeapProfiler.collectGarbage``) and its tile count;
* the live poll records since the last sample (count, failures, median and max duration),
  the frames the walls received, and the walls' closed sockets.

The verdict compares, for each growth metric, the median of the first window after the
warm-up (minutes 10 to 20) with the median of the last window (the last 10 minutes): growth
under 10 % passes (a count must also grow by at least 2 to fail). Shorter runs scale the
warm-up and windows down (each a sixth of the run, at most 10 minutes).

    python bench/soak.py [--minutes 60] [--stations 500] [--walls 200] [--speed 60]
                         [--every 30] [--out bench/results/soak.json]

Needs PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379, Chromium at /usr/bin/chromium
(``CHROMIUM`` overrides), Playwright and websockets. bench/results/soak.json is rewritten
after every sample, so a run cut short still leaves its samples; one line is printed at the
end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wall_fanout import (
    PG_PORT,
    POLL_INTERVAL,
    REDIS_HOST,
    REDIS_PORT,
    ROOT,
    Fleet,
    Stack,
    close_django_connections,
    group_members,
    group_usage,
    make_session,
    pg_connect,
    running_stack,
)

RESULTS = ROOT / "bench" / "results" / "soak.json"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The processes judged for growth (the names ``running_stack`` starts them under).
PROCESSES = {"web": "daphne", "worker": "worker", "beat": "beat", "simulator": "simulator"}
GROWTH_MAX = 0.10
#: A count (connections, sockets) fails only if it also grows by at least this much.
COUNT_SLACK = 2
BROWSER_USER = "soak-browser"


# --- /proc: TCP connections -----------------------------------------------------------------

TCP_ESTABLISHED = "01"


def tcp_table() -> list[dict[str, Any]]:
    """Every TCP socket of /proc/net/tcp and tcp6: local and remote port, state, inode."""
    rows = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for text in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                parts = text.split()
                rows.append(
                    {
                        "local_port": int(parts[1].rsplit(":", 1)[1], 16),
                        "remote_port": int(parts[2].rsplit(":", 1)[1], 16),
                        "state": parts[3],
                        "inode": parts[9],
                    }
                )
    return rows


def socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def connections(stack: Stack, table: list[dict[str, Any]]) -> dict[str, Any]:
    established = [row for row in table if row["state"] == TCP_ESTABLISHED]
    result: dict[str, Any] = {
        "daphne_established": sum(row["local_port"] == stack.web_port for row in established)
    }
    for name, label in PROCESSES.items():
        inodes = socket_inodes(group_members(stack.groups[name]))
        mine = [row for row in established if row["inode"] in inodes]
        result[f"{label}_to_postgres"] = sum(row["remote_port"] == PG_PORT for row in mine)
        result[f"{label}_to_redis"] = sum(row["remote_port"] == REDIS_PORT for row in mine)
        result[f"{label}_tcp_total"] = len(mine)
    return result


def chromium_usage() -> dict[str, float]:
    """RSS and CPU of the Chromium processes this process started (through Playwright)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                pid = int(entry.name)
                parents[pid] = int(
                    Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
                commands[pid] = (
                    Path(f"/proc/{pid}/cmdline").read_bytes()[:200].decode(errors="replace")
                )

    def mine(pid: int) -> bool:
        for _ in range(20):
            pid = parents.get(pid, 0)
            if pid == me:
                return True
            if pid <= 1:
                return False
        return False

    ticks = os.sysconf("SC_CLK_TCK")
    cpu, rss_kb, count = 0.0, 0, 0
    for pid, command in commands.items():
        if "chrom" not in command or not mine(pid):
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            rss_kb += next((int(x.split()[1]) for x in status if x.startswith("VmRSS:")), 0)
            cpu += (int(fields[11]) + int(fields[12])) / ticks
            count += 1
    return {"cpu_s": round(cpu, 2), "rss_mb": round(rss_kb / 1024, 1), "processes": count}


# --- the browser ------------------------------------------------------------------------------


def create_user(stack: Stack) -> str:
    """A user of the run's database, made by ``manage.py shell -c``: its password."""
    password = secrets.token_urlsafe(18)
    code = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({BROWSER_USER!r}, password={password!r})"
    )
    env = {**stack.env, "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
    subprocess.run(  # noqa: S603 - this interpreter and the repository's manage.py
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    return password


async def open_wall(playwright: Any, base: str, password: str) -> tuple[Any, Any, Any]:
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await context.new_page()
    page.on("requestfailed", lambda r: print(f"soak: request failed: {r.url} {r.failure}"))
    await page.goto(f"{base}/wall/", wait_until="domcontentloaded")
    if "/login/" in page.url:
        await page.fill("#id_username", BROWSER_USER)
        await page.fill("#id_password", password)
        async with page.expect_navigation(wait_until="domcontentloaded"):
            await page.press("#id_password", "Enter")
    if not page.url.rstrip("/").endswith("/wall"):
        await page.goto(f"{base}/wall/", wait_until="domcontentloaded")
    await page.wait_for_selector('[id^="tile-"]', timeout=60_000)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    return browser, page, cdp


async def page_metrics(page: Any, cdp: Any) -> dict[str, Any]:
    await cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    tiles = await page.evaluate("document.querySelectorAll('[id^=\"tile-\"]').length")
    return {
        "js_heap_used_mb": round(metrics.get("JSHeapUsedSize", 0) / 2**20, 2),
        "js_heap_total_mb": round(metrics.get("JSHeapTotalSize", 0) / 2**20, 2),
        "dom_nodes": int(metrics.get("Nodes", 0)),
        "js_event_listeners": int(metrics.get("JSEventListeners", 0)),
        "documents": int(metrics.get("Documents", 0)),
        "tiles": tiles,
    }


# --- samples and verdict ------------------------------------------------------------------------


def poll_records(conn: Any, since: datetime) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT duration, ok FROM stations_pollrecord WHERE kind = 'live' AND started_at > %s",
        (since,),
    ).fetchall()
    durations = [d for d, ok in rows if ok]
    return {
        "live_polls": len(rows),
        "live_failed": sum(not ok for _, ok in rows),
        "live_p50_ms": round(1000 * statistics.median(durations), 1) if durations else None,
        "live_max_ms": round(1000 * max(durations), 1) if durations else None,
    }


def growth_metrics(sample: dict[str, Any]) -> dict[str, float]:
    """The figures judged for growth, flat: name -> value."""
    flat = {f"{label}_rss_mb": sample["rss_mb"][label] for label in PROCESSES.values()}
    flat["chromium_rss_mb"] = sample["rss_mb"]["chromium"]
    for key, value in sample["connections"].items():
        flat[key] = value
    flat["postgres_backends"] = sample["postgres_backends"]
    for key in ("js_heap_used_mb", "dom_nodes", "js_event_listeners", "documents"):
        flat[f"page_{key}"] = sample["page"][key]
    return flat


COUNTS = ("_to_postgres", "_to_redis", "_tcp_total", "_established", "_backends", "page_dom")


def verdict(samples: list[dict[str, Any]], minutes: float) -> dict[str, Any]:
    warmup = window = min(10.0, minutes / 6)
    first = [s for s in samples if warmup * 60 <= s["t_s"] < (warmup + window) * 60 and "page" in s]
    last_from = samples[-1]["t_s"] - window * 60 if samples else 0
    last = [s for s in samples if s["t_s"] > last_from and "page" in s]
    if not first or not last or first[-1]["t_s"] >= last[0]["t_s"]:
        return {"judged": False, "reason": "too few samples after the warm-up"}
    metrics: dict[str, Any] = {}
    for name in growth_metrics(first[0]):
        a = statistics.median(growth_metrics(s)[name] for s in first)
        b = statistics.median(growth_metrics(s)[name] for s in last)
        growth = (b - a) / a if a else (0.0 if b == a else float("inf"))
        is_count = any(marker in name for marker in COUNTS) or name.endswith(
            ("listeners", "documents")
        )
        grew = growth >= GROWTH_MAX and (not is_count or b - a >= COUNT_SLACK)
        metrics[name] = {
            "first_window_median": a,
            "last_window_median": b,
            "growth_percent": round(100 * growth, 1) if growth != float("inf") else None,
            "met": not grew,
        }
    return {
        "judged": True,
        "warmup_min": round(warmup, 1),
        "window_min": round(window, 1),
        "first_window_samples": len(first),
        "last_window_samples": len(last),
        "max_growth_percent": GROWTH_MAX * 100,
        "metrics": metrics,
        "failed": [name for name, m in metrics.items() if not m["met"]],
        "met": all(m["met"] for m in metrics.values()),
    }


def redis_clients() -> int | None:
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3)
        try:
            return int(client.info("clients")["connected_clients"])
        finally:
            client.close()
    return None


async def soak(
    stack: Stack, args: argparse.Namespace, out: Path, session_key: str, password: str
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    dbname = stack.database.rsplit("/", 1)[1]
    pg = pg_connect(dbname)
    base = f"http://127.0.0.1:{stack.web_port}"
    walls = Fleet("walls", args.walls)
    result: dict[str, Any] = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "stations": args.stations,
        "walls": args.walls,
        "browser_pages": 1,
        "simulator_speed": args.speed,
        "poll_interval_s": POLL_INTERVAL,
        "minutes_asked": args.minutes,
        "every_s": args.every,
        "startup_s": stack.startup_s,
        "setup": (
            "simulator (sped up), bin/web (one daphne), bin/worker, bin/beat on PostgreSQL and "
            "Redis, loopback; the walls' sockets and the sampling in the soak's process; one "
            "headless Chromium page on /wall/"
        ),
        "samples": [],
    }
    samples: list[dict[str, Any]] = result["samples"]
    async with async_playwright() as playwright:
        connected = await walls.connect(
            f"ws://127.0.0.1:{stack.web_port}/ws/wall/",
            {"Cookie": f"sessionid={session_key}"},
            base,
            first_frame=True,
        )
        result["walls_connected_s"] = connected["all_connected_s"]
        result["wall_handshakes_rejected"] = len(walls.rejected)
        browser, page, cdp = await open_wall(playwright, base, password)
        walls.counting = True
        started = time.monotonic()
        since = datetime.now(UTC)
        previous_cpu: dict[str, float] = {}
        previous_at = started
        frames_before = 0
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)[:300]))
        try:
            while True:
                stack.processes.check_alive()
                now = time.monotonic()
                usage = {
                    label: group_usage(stack.groups[name]) for name, label in PROCESSES.items()
                }
                usage["chromium"] = chromium_usage()
                elapsed = max(now - previous_at, 1e-6)
                sample: dict[str, Any] = {
                    "t_s": round(now - started, 1),
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "rss_mb": {k: v["rss_mb"] for k, v in usage.items()},
                    "cpu_percent": {
                        k: round(100 * (v["cpu_s"] - previous_cpu[k]) / elapsed, 1)
                        for k, v in usage.items()
                        if k in previous_cpu
                    },
                    "process_counts": {k: v["processes"] for k, v in usage.items()},
                    "connections": connections(stack, tcp_table()),
                    "postgres_backends": pg.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (dbname,),
                    ).fetchone()[0],
                    "redis_connected_clients_server_wide": redis_clients(),
                    "walls_frames_per_s": round((walls.frames - frames_before) / elapsed, 1),
                    "walls_closed": len(walls.errors),
                    "page_errors": len(page_errors),
                }
                sampled_at = datetime.now(UTC)
                sample.update(poll_records(pg, since))
                since = sampled_at
                try:
                    sample["page"] = await asyncio.wait_for(page_metrics(page, cdp), 30)
                except Exception as exc:  # a hung page is a finding, not a crash of the soak
                    sample["page_error"] = f"{type(exc).__name__}: {exc}"[:300]
                previous_cpu = {k: v["cpu_s"] for k, v in usage.items()}
                previous_at = now
                frames_before = walls.frames
                samples.append(sample)
                result["page_errors"] = page_errors[:20]
                result["wall_errors"] = walls.errors[:20]
                out.write_text(json.dumps(result, indent=2) + "\n")
                print(summary_sample(sample), flush=True)
                if now - started >= args.minutes * 60:
                    break
                rest = args.every - (time.monotonic() - now)
                await asyncio.sleep(max(0.0, min(rest, started + args.minutes * 60 - now)))
        finally:
            result["minutes_run"] = round((time.monotonic() - started) / 60, 1)
            walls.counting = False
            with contextlib.suppress(Exception):
                await browser.close()
            await walls.close()
            pg.close()
    result["verdict"] = verdict(samples, result["minutes_run"])
    return result


def summary_sample(sample: dict[str, Any]) -> str:
    page = sample.get("page", {})
    c = sample["connections"]
    return (
        f"soak t={sample['t_s']:.0f}s rss daphne {sample['rss_mb']['daphne']} worker "
        f"{sample['rss_mb']['worker']} beat {sample['rss_mb']['beat']} sim "
        f"{sample['rss_mb']['simulator']} MB; cpu {sample['cpu_percent']}; daphne conns "
        f"{c['daphne_established']}, pg {sample['postgres_backends']}, redis(all) "
        f"{sample['redis_connected_clients_server_wide']}; heap {page.get('js_heap_used_mb')} MB "
        f"nodes {page.get('dom_nodes')}; polls {sample['live_polls']} p50 "
        f"{sample['live_p50_ms']} ms"
    )


def line(result: dict[str, Any]) -> str:
    v = result["verdict"]
    last = result["samples"][-1]
    head = (
        f"soak: {result['minutes_run']} min, {result['stations']} stations at x"
        f"{result['simulator_speed']}, {result['walls']} walls + 1 Chromium page: "
        f"RSS daphne {last['rss_mb']['daphne']} MB, worker {last['rss_mb']['worker']} MB, "
        f"beat {last['rss_mb']['beat']} MB, simulator {last['rss_mb']['simulator']} MB, "
        f"JS heap {last.get('page', {}).get('js_heap_used_mb')} MB; "
    )
    if not v["judged"]:
        return head + f"growth not judged ({v['reason']})"
    worst = max(v["metrics"].items(), key=lambda kv: kv[1]["growth_percent"] or 0)
    return head + (
        f"growth after {v['warmup_min']:g} min warm-up (first vs last {v['window_min']:g} min "
        f"medians) under {v['max_growth_percent']:g} %: "
        f"{'met' if v['met'] else 'MISSED on ' + ', '.join(v['failed'])}; largest "
        f"{worst[0]} {worst[1]['growth_percent']} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--walls", type=int, default=200)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or (soft < hard and soft < 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with running_stack(
        args.stations,
        {
            "SIMULATOR_SPEED": f"{args.speed:g}",
            # Plain HTTP on loopback: the browser must not be sent to https://.
            "SECURE_COOKIES": "0",
            "SECURE_SSL_REDIRECT": "0",
            # This tree's code in every process, whatever else the interpreter could find.
            "PYTHONPATH": str(ROOT),
        },
        baseline=False,
        label="soak",
    ) as stack:
        session_key = make_session()  # for the walls' sockets
        password = create_user(stack)  # for the browser, which logs in through the page
        close_django_connections()
        result = asyncio.run(soak(stack, args, args.out, session_key, password))
        stack.processes.check_alive()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(line(result))


if __name__ == "__main__":
    main()
