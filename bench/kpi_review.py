"""The shift review and the 90-day timeline over a long history, against a raw SQL aggregate.

100 stations in three workshops (the simulator's calendars: 3×8, 2×8, day shift) get 90 days
of history, generated deterministically: contiguous tops (minutes to hours; disengaged outside
opening, "Break" in the day shift's lunch), an alarm in each breakdown, a running program in
each production top, part tallies per quarter hour of production, and part counting since
before the period. Generating and storing it is timed apart and is not part of the figures.

Timed, interleaved round by round so the machine's noise hits them alike (median of the
rounds after one warm-up):

* engine: ``kpis.engine.station_kpis`` for every station over one 8-hour shift, a week, and
  the 90 days;
* page: the shift review (``kpis:review``) through Django's test client, logged in as a
  superuser, for one shift and for a week;
* timeline: ``kpis.timeline.build_timeline`` over the 90 days, then
  ``kpis/_timeline.html`` rendered with it (its size in bytes is reported);
* baseline: one SQL aggregate of the same tops (seconds per station and state, each top
  clipped to the period) through ``connection.cursor()``, for the same periods.

SQL queries are counted in one extra, untimed call of each; the engine's are also counted for
10 stations, to show they do not grow with the number of stations. Targets: the shift review
page under 1 s, the 90-day timeline (built and rendered) under 2 s, the same number of engine
queries for 10 and 100 stations. Missing them is reported, not an error. A view or module not
there yet is reported as "not available".

    python bench/kpi_review.py [--stations 100] [--days 90] [--rounds 5] [--out PATH]

The database is a throwaway SQLite file in a temporary directory. For PostgreSQL give
``BENCH_DATABASE_URL=postgres://...``: that database is migrated and EMPTIED (every table is
flushed) first, so never point it at real data; the settings are then production's, so the
static files are collected (hashed, as served) into the temporary directory first. A
``DATABASE_URL`` without ``BENCH_DATABASE_URL`` is refused rather than written to.

Writes bench/results/kpi_review.json and prints one line.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from django.db.models import Model

#: A model of the stored history, for the helper that stores its rows in batches.
_Row = TypeVar("_Row", bound="Model")

RESULTS = Path(__file__).resolve().parent / "results" / "kpi_review.json"
SEED = 7
#: A Tuesday morning (10:00 in Paris): the history runs up to here, the last top still open.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
#: Monday's morning shift (05:00–13:00 in Paris), which every workshop but the day shift's runs.
SHIFT = (datetime(2026, 11, 23, 4, 0, tzinfo=UTC), datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
#: The week before (2026-W47): Monday to Monday, midnight in Paris.
WEEK = (datetime(2026, 11, 15, 23, 0, tzinfo=UTC), datetime(2026, 11, 22, 23, 0, tzinfo=UTC))
#: The review's query string (kpis.forms.ReviewForm) for the same periods.
REVIEW_QUERY = {
    "shift": {"scope": "all", "period": "shift", "date": "2026-11-23", "shift": "Morning"},
    "week": {"scope": "all", "period": "week", "week": "2026-W47"},
}
WORKSHOPS = ["Building A", "Building B", "Building C"]
SLOT = 900
BATCH = 5000
MEASURED_CODE = (
    "kpis/engine.py",
    "kpis/intervals.py",
    "kpis/review.py",
    "kpis/timeline/__init__.py",
    "kpis/timeline/axis.py",
    "kpis/timeline/layout.py",
    "kpis/timeline/svg.py",
    "kpis/views.py",
    "templates/kpis/review.html",
    "templates/kpis/_timeline.html",
)
TARGETS_MS = {"page_shift": 1000.0, "timeline_90d": 2000.0}

# The simulator's states (simulator.world): (id, name, colour, OEE category, parent).
STATES = [
    (0, "Production", "#008000", 4, None),
    (1, "Breakdown", "#FF0000", 2, None),
    (2, "Setting", "#0000FF", 2, None),
    (3, "Waiting", "#FFFF00", 3, None),
    (4, "Disengagement", "#808080", 1, None),
    (5, "Spindle failure", "#B22222", 2, 1),
    (6, "Tool breakage", "#FF6347", 2, 1),
    (7, "Tool change", "#4169E1", 2, 2),
    (8, "No material", "#FFD700", 3, 3),
    (9, "No operator", "#DAA520", 3, 3),
    (10, "Break", "#A9A9A9", 1, 4),
    (11, "Preventive maintenance", "#696969", 1, 4),
    (12, "Rework (old)", "#8B4513", 2, None),
]
PRODUCTION, SETTING, DISENGAGEMENT, BREAK, MAINTENANCE = 0, 2, 4, 10, 11
FAILURES = (1, 5, 6)
#: A set-up starts a new job this often: about 7 jobs per station and week, as the simulator.
JOB_CHANGE = 1 / 3
#: While open: (state, weight, shortest s, mean s, longest s); about 15 min on average.
WORK = [
    (0, 46, 300, 1500, 5 * 3600),
    (1, 2, 300, 1200, 3600),
    (5, 1, 600, 1800, 3600),
    (6, 2, 180, 600, 1800),
    (2, 5, 600, 1800, 2 * 3600),
    (7, 8, 60, 300, 900),
    (3, 12, 60, 420, 1800),
    (8, 8, 120, 600, 2700),
    (9, 8, 120, 600, 2700),
    (12, 2, 300, 900, 3600),
]
ALARMS = [
    ("1001", "SPINDLE OVERLOAD"),
    ("2040", "SERVO ALARM: X AXIS EXCESS ERROR"),
    ("3011", "TOOL LIFE EXPIRED"),
    ("4502", "COOLANT LEVEL LOW"),
    ("7015", "EMERGENCY STOP"),
]


def configure_django() -> tuple[str, Path]:
    """Point Django at a throwaway database before setup: its label, and a directory to remove."""
    scratch = Path(tempfile.mkdtemp(prefix="kpi-review-"))
    bench_url = os.environ.get("BENCH_DATABASE_URL")
    if bench_url:
        os.environ["DATABASE_URL"] = bench_url
        # Production pages name the collected, hashed static files: collected here.
        os.environ["STATIC_ROOT"] = str(scratch / "static")
        # Production mode wants these; the benchmark calls no CWork.
        os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 32)
        os.environ.setdefault("CWORK_URL", "http://127.0.0.1:9")
        os.environ.setdefault("CWORK_API_KEY", "bench")
        label = "postgresql"
    elif os.environ.get("DATABASE_URL"):
        sys.exit(
            "kpi_review: DATABASE_URL is set; this benchmark empties the database it runs on. "
            "Give a throwaway one as BENCH_DATABASE_URL instead."
        )
    else:
        os.environ["DATA_DIR"] = str(scratch)
        label = "sqlite"
    # The test client asks for "testserver".
    os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return label, scratch


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- the data ------------------------------------------------------------------------------


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _duration(rng: random.Random, shortest: int, mean: int, longest: int) -> int:
    return int(min(longest, shortest + rng.expovariate(1 / max(1, mean - shortest))))


def _segments(spec: Any, start: datetime, end: datetime) -> list[tuple[int, int, str]]:
    """[start, end) cut into ("open" | "break" | "closed", start, end) spans, as epoch seconds."""
    from kpis.calendar import opening

    opens, pauses = opening(spec, start, end)
    marks: list[tuple[int, int, str]] = []
    cursor = int(start.timestamp())
    for o_start, o_end in opens:
        a, b = int(o_start.timestamp()), int(o_end.timestamp())
        if a > cursor:
            marks.append((cursor, a, "closed"))
        for p_start, p_end in pauses:
            pa, pb = int(p_start.timestamp()), int(p_end.timestamp())
            if pb <= a or pa >= b:
                continue
            if pa > a:
                marks.append((a, pa, "open"))
            marks.append((max(a, pa), min(b, pb), "break"))
            a = min(b, pb)
        if b > a:
            marks.append((a, b, "open"))
        cursor = b
    stop = int(end.timestamp())
    if stop > cursor:
        marks.append((cursor, stop, "closed"))
    return marks


class History:
    """One station's generated rows, as plain tuples (epoch seconds)."""

    def __init__(self) -> None:
        self.tops: list[tuple[int, int, int, str]] = []  # start, end, state, comment
        self.alarms: list[tuple[int, int, str, str]] = []  # start, end, code, message
        self.programs: list[tuple[int, int, str, str]] = []  # start, end, name, context
        #: (slot, job index) -> production seconds; jobs: (order, job, reference, tCR per part)
        self.production: dict[tuple[int, int], int] = defaultdict(int)
        self.jobs: list[tuple[str, str, str, float]] = []


def generate(station: int, spec: Any, start: datetime, end: datetime) -> History:
    """Contiguous tops from ``start`` to ``end`` following the calendar, and what goes with
    them; deterministic for (SEED, station)."""
    rng = random.Random(f"kpi-review:{SEED}:{station}")
    out = History()
    weights = [w for _s, w, *_r in WORK]

    def new_job() -> None:
        n = len(out.jobs) + 1
        ref = f"REF-{rng.randrange(100, 999)}"
        tcr = round(rng.uniform(20, 600) / rng.choice((1, 1, 2, 4)), 2)
        out.jobs.append((f"OF{station:03d}{n:04d}", f"OP{n:04d}-10", ref, tcr))

    def add(s: int, e: int, state: int, comment: str = "") -> None:
        if out.tops and out.tops[-1][2] == state:  # CWork shows one top for the same state
            prev = out.tops[-1]
            out.tops[-1] = (prev[0], e, state, prev[3])
        else:
            out.tops.append((s, e, state, comment))

    new_job()
    for seg_start, seg_end, kind in _segments(spec, start, end):
        if kind == "closed":
            cut = seg_start
            if seg_end - seg_start > 12 * 3600 and rng.random() < 0.1:
                cut = seg_start + rng.randrange(2 * 3600, 6 * 3600)
                add(seg_start, cut, MAINTENANCE, "planned")
            add(cut, seg_end, DISENGAGEMENT)
            continue
        if kind == "break":
            add(seg_start, seg_end, BREAK)
            continue
        t = seg_start
        while t < seg_end:
            previous = out.tops[-1][2] if out.tops else None
            while True:
                state, _w, lo, mean, hi = rng.choices(WORK, weights)[0]
                if state != previous:
                    break
            e = min(seg_end, t + _duration(rng, lo, mean, hi))
            if seg_end - e < 60:  # no sliver before the closing
                e = seg_end
            add(t, e, state)
            if state == SETTING and rng.random() < JOB_CHANGE:
                new_job()
            elif state == PRODUCTION:
                job = len(out.jobs) - 1
                _order, _name, ref, _tcr = out.jobs[job]
                out.programs.append((t, e, f"O{1000 + job % 9000}", ref))
                slot = t - t % SLOT
                while slot < e:
                    out.production[(slot, job)] += min(e, slot + SLOT) - max(t, slot)
                    slot += SLOT
            elif state in FAILURES:
                code, message = rng.choice(ALARMS)
                a = t + rng.randrange(0, 30)
                out.alarms.append((a, max(a + 1, e - rng.randrange(0, 60)), code, message))
            t = e
    return out


def create_history(stations: int, days: int) -> dict[str, Any]:
    """The catalogue, the calendars and every station's history; counts and timings."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from kpis.calendar import Calendars
    from kpis.demo import create_simulator_calendars
    from kpis.models import PartCounting, PartTally
    from stations.models import AlarmInterval, LiveStatus, ProgramRun, State, Station, Top

    started = time.perf_counter()
    call_command("flush", interactive=False, verbosity=0)
    history_start = NOW - timedelta(days=days)
    create_simulator_calendars(WORKSHOPS)
    calendars = Calendars()
    state_pks: dict[int, int] = {}
    for cwork_id, name, color, category, parent in STATES:
        row = State.objects.create(
            cwork_id=cwork_id,
            name=name,
            color=color,
            oee_category=category,
            parent_id=state_pks[parent] if parent is not None else None,
            close_day=cwork_id == DISENGAGEMENT,
            prod_percent=cwork_id == PRODUCTION,
            use_percent=category != 1,
            archived=cwork_id == 12,
            synced_at=NOW,
        )
        state_pks[cwork_id] = row.pk
    per = -(-stations // len(WORKSHOPS))
    Station.objects.bulk_create(
        Station(
            cwork_id=i + 1,
            name=f"CNC-{i + 1:03d}",
            workshop=WORKSHOPS[i // per],
            dnc_group="Group",
            mdc_mode=True,
            dnc_mode=True,
            synced_at=NOW,
            history_synced_until=NOW,
            history_due=False,
        )
        for i in range(stations)
    )
    station_rows = list(Station.objects.order_by("cwork_id"))
    pks = [s.pk for s in station_rows]
    get_user_model().objects.create_superuser("bench-kpi", "bench@example.com", "x" * 24)

    counts = {"tops": 0, "alarms": 0, "programs": 0, "part_tallies": 0}
    generating = storing = 0.0
    tops: list[Top] = []
    alarms: list[AlarmInterval] = []
    programs: list[ProgramRun] = []
    tallies: list[PartTally] = []

    def store(model: type[_Row], batch: list[_Row], key: str, force: bool) -> None:
        if batch and (force or len(batch) >= BATCH):
            model._default_manager.bulk_create(batch, batch_size=BATCH)
            counts[key] += len(batch)
            batch.clear()

    def flush(force: bool = False) -> None:
        nonlocal storing
        t = time.perf_counter()
        store(Top, tops, "tops", force)
        store(AlarmInterval, alarms, "alarms", force)
        store(ProgramRun, programs, "programs", force)
        store(PartTally, tallies, "part_tallies", force)
        storing += time.perf_counter() - t

    with transaction.atomic():
        for station in station_rows:
            t = time.perf_counter()
            spec = calendars.for_workshop(station.workshop)
            history = generate(station.cwork_id, spec, history_start, NOW)
            last = len(history.tops) - 1
            for i, (s, e, state, comment) in enumerate(history.tops):
                tops.append(
                    Top(
                        station_id=station.pk,
                        start=_dt(s),
                        end=None if i == last else _dt(e),
                        state_id=state_pks[state],
                        state_cwork_id=state,
                        comment=comment,
                    )
                )
            for s, e, code, message in history.alarms:
                alarms.append(
                    AlarmInterval(
                        station_id=station.pk, start=_dt(s), end=_dt(e), code=code, message=message
                    )
                )
            for s, e, name, context in history.programs:
                programs.append(
                    ProgramRun(
                        station_id=station.pk,
                        start=_dt(s),
                        end=_dt(e),
                        kind=ProgramRun.Kind.RUNNING,
                        name=name,
                        context=context,
                    )
                )
            for (slot, job), seconds in history.production.items():
                order, name, ref, tcr = history.jobs[job]
                tallies.append(
                    PartTally(
                        station_id=station.pk,
                        slot=_dt(slot),
                        order=order,
                        job=name,
                        reference=ref,
                        cycle_time=tcr,
                        parts=int(seconds / tcr),
                    )
                )
            s, _e, state, comment = history.tops[-1]
            LiveStatus.objects.create(
                station_id=station.pk,
                state_id=state_pks[state],
                state_cwork_id=state,
                since=_dt(s),
                comment=comment,
                changed_at=NOW,
            )
            generating += time.perf_counter() - t
            flush()
        flush(force=True)
        PartCounting.objects.bulk_create(
            PartCounting(station_id=pk, since=history_start - timedelta(days=30)) for pk in pks
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have by now
    return {
        **counts,
        "stations": stations,
        "days": days,
        "tops_per_station": round(counts["tops"] / stations),
        "generate_s": round(generating, 1),
        "store_s": round(storing, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }


# --- what is measured ----------------------------------------------------------------------


def baseline_sql(station_ids: list[int], start: datetime, end: datetime) -> list[tuple]:
    """Seconds per station and state over [start, end) (cut at NOW), each top clipped to it."""
    from django.db import connection

    ops = connection.ops
    until = min(end, NOW)
    lo, hi, now = (ops.adapt_datetimefield_value(d) for d in (start, until, NOW))
    end_col = ops.quote_name("end")
    marks = ", ".join(["%s"] * len(station_ids))
    if connection.vendor == "sqlite":
        seconds = (
            f"(julianday(MIN(COALESCE({end_col}, %s), %s)) - julianday(MAX(start, %s))) * 86400"
        )
    else:
        seconds = f"EXTRACT(EPOCH FROM LEAST(COALESCE({end_col}, %s), %s) - GREATEST(start, %s))"
    # Only placeholders and quoted names are put into the text; the values are parameters.
    sql = (
        f"SELECT station_id, state_cwork_id, SUM({seconds}) FROM stations_top "  # noqa: S608
        f"WHERE station_id IN ({marks}) AND start < %s "
        f"AND ({end_col} IS NULL OR {end_col} > %s) "
        "GROUP BY station_id, state_cwork_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, hi, lo, *station_ids, hi, lo])
        return cursor.fetchall()


def optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # not written yet
        return None


def review_url() -> tuple[str | None, str]:
    """The review's path, or None and why not (the URL, or a module it needs, missing)."""
    from django.urls import reverse

    try:
        return reverse("kpis:review"), ""
    except Exception as exc:  # NoReverseMatch, or the URLconf failing to import
        return None, f"{type(exc).__name__}: {exc}"[:300]


def timed(call: Callable[[], Any], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def measure(
    database: str,
    rounds: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.template.loader import render_to_string
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from kpis.engine import station_kpis
    from stations.models import Station

    stations = list(Station.objects.order_by("cwork_id"))
    ten = stations[:10]
    per_shop = sum(1 for s in stations if s.workshop == WORKSHOPS[0])
    ids = [s.pk for s in stations]
    history_start = NOW - timedelta(days=data["days"])
    periods = {"shift": SHIFT, "week": WEEK, "90d": (history_start, NOW)}
    unavailable: dict[str, str] = {}

    situations: dict[str, Callable[[], Any]] = {}
    for label, (start, end) in periods.items():
        situations[f"baseline_{label}"] = partial(baseline_sql, ids, start, end)
        situations[f"engine_{label}"] = partial(station_kpis, stations, start, end, now=NOW)
    extra_counts: dict[str, Callable[[], Any]] = {
        "engine_shift_10": lambda: station_kpis(ten, *SHIFT, now=NOW),
        "engine_90d_10": lambda: station_kpis(ten, history_start, NOW, now=NOW),
    }

    # The review page.
    url, why = review_url()
    client = Client()
    pages: dict[str, int] = {}
    if url is None:
        unavailable["page"] = f"kpis:review does not resolve ({why})"
    else:
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.get(username="bench-kpi"))
        for label in ("shift", "week"):

            def page(label: str = label) -> None:
                response = client.get(url, REVIEW_QUERY[label], secure=True)
                if response.status_code != 200:
                    raise RuntimeError(f"{url} ({label}): HTTP {response.status_code}")
                pages[label] = len(response.content)

            situations[f"page_{label}"] = page
        one_shop = {**REVIEW_QUERY["shift"], "scope": f"w:{WORKSHOPS[0]}"}
        extra_counts["page_shift_one_workshop"] = lambda: client.get(url, one_shop, secure=True)

    # The 90-day timeline.
    build_timeline = optional("kpis.timeline", "build_timeline")
    timeline_bytes: list[int] = []
    build_times: list[float] = []
    if build_timeline is None:
        unavailable["timeline"] = "kpis.timeline.build_timeline is not there"
    else:

        def timeline() -> None:
            t = time.perf_counter()
            built = build_timeline(stations, history_start, NOW, now=NOW)
            build_times.append(time.perf_counter() - t)
            html = render_to_string("kpis/_timeline.html", timeline_context(built))
            timeline_bytes.append(len(html.encode()))

        situations["timeline_90d"] = timeline

    for name, call in list(situations.items()):  # warm every path once
        try:
            call()
        except Exception as exc:  # a view or template still being written
            if not name.startswith(("page_", "timeline_")):
                raise
            unavailable[name] = f"{type(exc).__name__}: {exc}"[:300]
            del situations[name]
    build_times.clear()

    times: dict[str, list[float]] = {name: [] for name in situations}
    for _ in range(rounds):
        for name, call in situations.items():
            times[name].extend(timed(call, 1))
    queries: dict[str, int] = {}
    sql: dict[str, list[str]] = {}
    for name, call in {**situations, **extra_counts}.items():
        with CaptureQueriesContext(connection) as captured:
            try:
                call()
            except Exception as exc:  # only an extra count can still fail here
                unavailable[name] = f"{type(exc).__name__}: {exc}"[:300]
        queries[name] = len(captured.captured_queries)
        sql[name] = [q["sql"][:200] for q in captured.captured_queries]
    reset_queries()

    med = {name: statistics.median(t) for name, t in times.items()}
    figures: dict[str, Any] = {
        name: {
            "median_ms": ms(med[name]),
            "min_ms": ms(min(times[name])),
            "max_ms": ms(max(times[name])),
            "queries": queries[name],
        }
        for name in situations
    }
    for name in unavailable:
        figures.setdefault(name, "not available")
    if "timeline_90d" in figures and build_times:
        figures["timeline_90d"]["build_median_ms"] = ms(statistics.median(build_times))
        figures["timeline_90d"]["bytes"] = timeline_bytes[-1]
    for label, size in pages.items():
        if isinstance(figures.get(f"page_{label}"), dict):
            figures[f"page_{label}"]["bytes"] = size

    ratios = {}
    for kind in ("engine", "page"):
        for label in periods:
            if f"{kind}_{label}" in med:
                ratios[f"{kind}_{label}"] = round(
                    med[f"{kind}_{label}"] / med[f"baseline_{label}"], 1
                )
    if "timeline_90d" in med:
        ratios["timeline_90d"] = round(med["timeline_90d"] / med["baseline_90d"], 1)

    targets: dict[str, Any] = {}
    for name, limit in TARGETS_MS.items():
        if name in med:
            targets[name] = {
                "max_ms": limit,
                "median_ms": ms(med[name]),
                "met": ms(med[name]) < limit,
            }
        else:
            targets[name] = {"max_ms": limit, "median_ms": None, "met": None}
    if "page_shift" in queries and "page_shift_one_workshop" in queries:
        targets["page_queries_independent_of_stations"] = {
            "shift": {
                str(per_shop): queries["page_shift_one_workshop"],
                str(len(stations)): queries["page_shift"],
            },
            "met": queries["page_shift_one_workshop"] == queries["page_shift"],
        }
    targets["engine_queries_independent_of_stations"] = {
        "shift": {"10": queries["engine_shift_10"], "100": queries["engine_shift"]},
        "90d": {"10": queries["engine_90d_10"], "100": queries["engine_90d"]},
        "met": queries["engine_shift_10"] == queries["engine_shift"]
        and queries["engine_90d_10"] == queries["engine_90d"],
    }
    check = check_baseline(ids, periods)
    return {
        "database": database,
        "rounds": rounds,
        "data": data,
        "periods": {k: [s.isoformat(), e.isoformat()] for k, (s, e) in periods.items()},
        "now": NOW.isoformat(),
        "figures": figures,
        "extra_query_counts": {name: queries[name] for name in extra_counts},
        "ratios_to_baseline": ratios,
        "targets": targets,
        "unavailable": unavailable,
        "baseline_check": check,
        "code": code_versions(),
        "sql": sql,
    }


def timeline_context(built: Any) -> dict[str, Any]:
    """The template's context for what ``build_timeline`` returned."""
    if isinstance(built, dict):
        return built
    return {"timeline": built}


def check_baseline(ids: list[int], periods: dict[str, tuple[datetime, datetime]]) -> dict:
    """The tops are contiguous: per station, the aggregate must add up to the whole period."""
    out = {}
    for label, (start, end) in periods.items():
        per_station: dict[int, float] = defaultdict(float)
        for station_id, _state, seconds in baseline_sql(ids, start, end):
            per_station[station_id] += float(seconds)
        want = (min(end, NOW) - start).total_seconds()
        worst = max(abs(v - want) for v in per_station.values())
        out[label] = {"stations": len(per_station), "max_gap_s": round(worst, 3)}
        if len(per_station) != len(ids) or worst >= 1:
            raise RuntimeError(f"the tops do not tile the {label}: {out[label]}")
    return out


def code_versions() -> dict[str, str]:
    """The measured modules' contents, hashed: the figures belong to these versions."""
    root = Path(__file__).resolve().parent.parent
    out = {}
    for name in MEASURED_CODE:
        path = root / name
        out[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else ""
    return out


def line(run: dict[str, Any]) -> str:
    f, t, r, d = run["figures"], run["targets"], run["ratios_to_baseline"], run["data"]

    def fig(name: str) -> str:
        v = f.get(name)
        if not isinstance(v, dict):
            return f"{name} n/a"
        ratio = f" x{r[name]}" if name in r else ""
        return f"{name} {v['median_ms']:g} ms{ratio} ({v['queries']} q)"

    def verdict(name: str) -> str:
        met = t[name]["met"]
        return "n/a" if met is None else ("met" if met else "MISSED")

    q = t["engine_queries_independent_of_stations"]
    tl = f.get("timeline_90d")
    size = f" {tl['bytes'] / 1e6:.1f} MB" if isinstance(tl, dict) and "bytes" in tl else ""
    return (
        f"kpi_review: {d['stations']} stations, {d['days']} days, {d['tops']} tops on "
        f"{run['database']}: baseline shift {f['baseline_shift']['median_ms']:g} ms, 90d "
        f"{f['baseline_90d']['median_ms']:g} ms; {fig('engine_shift')}, {fig('engine_90d')}; "
        f"{fig('page_shift')} (<1 s: {verdict('page_shift')}), {fig('page_week')}; "
        f"{fig('timeline_90d')}{size} (<2 s: {verdict('timeline_90d')}); engine queries 10/100 "
        f"stations {q['shift']['10']}/{q['shift']['100']} "
        f"({'met' if q['met'] else 'MISSED'}); data made in {d['total_s']:g} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.rounds < 1 or args.stations < 10 or args.days < 8:
        parser.error("--rounds at least 1, --stations at least 10, --days at least 8")
    database, scratch = configure_django()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0)
        if database == "postgresql":
            call_command("collectstatic", interactive=False, verbosity=0)
        data = create_history(args.stations, args.days)
        run = measure(database, args.rounds, data)
    finally:
        connections.close_all()
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), **run},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(line(run))


if __name__ == "__main__":
    main()
