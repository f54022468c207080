"""A believable simulated factory behind the CWork API simulator.

The world is a set of stations (CNC machines) in workshops with shift calendars. While a
workshop is open its stations cycle through set-ups, production (parts counted at the job's
actual cycle time), breakdowns with CNC alarms, tool changes and waiting; outside opening they
are disengaged. Orders of 1–3 operations run in sequence on one station.

Determinism and laziness
    Each station's automatic timeline is cut into weekly *chunks*, from the first opening of a
    week (Monday 05:00 or 07:30 local) to the next week's. A chunk is simulated from its own
    ``random.Random`` seeded by (seed, station, week), whole, the first time anything needs it,
    and kept in compact arrays. Every workshop is closed at the weekend, so a chunk starts
    afresh: the week's first opening begins with a set-up (or preventive maintenance), and the
    week's last job is sized to what the machine made by the weekend. Answers therefore depend
    only on the seed and the clock, never on the order of queries. Time reveals the
    pre-simulated week: nothing after "now" is ever visible.

Manual changes
    ``change_state`` and ``replace_current_state`` paint *edits* over the automatic timeline.
    An edit holds until ``force_auto_state``, or until the machine's own next transition into
    production or the next calendar transition (opening, closure, break), whichever comes
    first; the automatic timeline then shows again. Adjacent tops of the same state are shown
    as one (comments joined with " + ", CWork's merge rule).

Speed
    ``statuses()`` keeps one snapshot per station with the moment it stops being true (next
    top, next part, next alarm change) in a heap, so a warm call only redoes the stations that
    changed.

Calendars
    Workshops take turns (A, B, C, D, ...): 3×8 (Monday 05:00 to Saturday 05:00 without a stop),
    2×8 (Monday–Friday 05:00–21:00), day shift (Monday–Friday 07:30–16:00, with a 12:00–12:30
    "Break" inside the opening). Outside opening a station is in "Disengagement".

Conventions
    - Time: the world's clock never goes backwards (a clock set back is read as the latest time
      already seen). The history starts ``history_days × 86400`` s before the first reading;
      nothing exists before it (the first top starts there) and nothing after now.
    - Ids: an order is ``station × 100000 + (week % 1000) × 100 + its rank in the week``; an
      operation is ``order id × 10 + its rank in the order`` (1–3). Both are fixed by the
      seed, whatever is asked first.
    - ``CycleTime`` / ``JobCycleTime`` are the reference time of one machine cycle, which makes
      ``PartsPerCycle`` parts: the norm's tCR per part is CycleTime / PartsPerCycle.
    - ``TotalParts`` counts from a per-station starting value at the start of the history;
      ``PartsSinceReset`` goes back to 0 when a set-up starts, or to the value given to
      ``reset_part_count``, and counts on from there. Good parts are 97–99 % of those made.
    - ``kpi`` cuts the period to the simulated history, [history start, now].

All times inside are Unix seconds (tops start on whole seconds); datetimes are made at the
edge, aware, in the world's time zone.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from cwork import oee

__all__ = [
    "AlarmRecord",
    "ManualClock",
    "Operation",
    "Order",
    "ProgramRun",
    "StateDef",
    "StationInfo",
    "StatusSnapshot",
    "TopRecord",
    "World",
    "WorldError",
]

_INF = float("inf")
DAY = 86400

# ----------------------------------------------------------------------------------------
# Public records
# ----------------------------------------------------------------------------------------


class ManualClock:
    """A clock for tests: it only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, dt: datetime) -> None:
        if dt.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        with self._lock:
            self._now = dt


class WorldError(Exception):
    """A refusal with the CWork error code the API would answer (see ``cwork.errors``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StationInfo:
    handle: int
    name: str
    description: str
    disabled: bool
    dnc_mode: bool
    mdc_mode: bool
    workshop: str
    dnc_group: str
    mdc_groups: tuple[str, ...]
    protocol: str
    has_image: bool


@dataclass(frozen=True, slots=True)
class StateDef:
    handle: int
    name: str
    color: str
    oee_category: int
    parent: int | None
    close_day: bool
    prod_percent: bool
    use_percent: bool
    archived: bool


@dataclass(frozen=True, slots=True)
class TopRecord:
    station: int
    state: int
    start: datetime
    end: datetime | None
    comment: str


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    code: str
    message: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class ProgramRun:
    name: str
    context: str
    start: datetime
    end: datetime | None


#: One kind of history interval (an alarm or a program run), as ``_history`` makes them.
_Interval = TypeVar("_Interval", AlarmRecord, ProgramRun)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    station: int
    state: int
    since: datetime
    comment: str
    order: str
    job: str
    reference: str
    job_cycle_time: int
    part_target: int
    alarms: tuple[AlarmRecord, ...]
    running_program: str | None
    selected_program: str | None
    total_parts: int
    parts_since_reset: int


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    name: str
    creation_date: datetime
    description: str
    part_reference: str
    client: str
    current_state: int
    valid: bool
    archived: bool


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: int
    order_id: int
    name: str
    creation_date: datetime
    description: str
    cnc_id: int
    document_id: int
    current_state: int
    parts_to_make: int
    parts_made: int
    parts_per_cycle: int
    cycle_time: int


# ----------------------------------------------------------------------------------------
# The catalogue: states, machine families, alarms, clients
# ----------------------------------------------------------------------------------------

PRODUCTION, BREAKDOWN, SETTING, WAITING, DISENGAGEMENT = 0, 1, 2, 3, 4
SPINDLE_FAILURE, TOOL_BREAKAGE, TOOL_CHANGE, NO_MATERIAL, NO_OPERATOR = 5, 6, 7, 8, 9
BREAK, PREVENTIVE_MAINTENANCE, REWORK_OLD = 10, 11, 12


def _make_states() -> list[StateDef]:
    s = StateDef
    return [
        # The doc's five, with its /states flags.
        s(PRODUCTION, "Production", "#008000", 4, None, False, True, True, False),
        s(BREAKDOWN, "Breakdown", "#FF0000", 2, None, False, False, True, False),
        s(SETTING, "Setting", "#0000FF", 2, None, False, False, True, False),
        s(WAITING, "Waiting", "#FFFF00", 3, None, False, False, True, False),
        s(DISENGAGEMENT, "Disengagement", "#808080", 1, None, True, False, False, False),
        # Children: the parent's category and flags (a break does not end the day).
        s(SPINDLE_FAILURE, "Spindle failure", "#B22222", 2, BREAKDOWN, False, False, True, False),
        s(TOOL_BREAKAGE, "Tool breakage", "#FF6347", 2, BREAKDOWN, False, False, True, False),
        s(TOOL_CHANGE, "Tool change", "#4169E1", 2, SETTING, False, False, True, False),
        s(NO_MATERIAL, "No material", "#FFD700", 3, WAITING, False, False, True, False),
        s(NO_OPERATOR, "No operator", "#DAA520", 3, WAITING, False, False, True, False),
        s(BREAK, "Break", "#A9A9A9", 1, DISENGAGEMENT, False, False, False, False),
        s(
            PREVENTIVE_MAINTENANCE,
            "Preventive maintenance",
            "#696969",
            1,
            DISENGAGEMENT,
            False,
            False,
            False,
            False,
        ),
        s(REWORK_OLD, "Rework (old)", "#8B4513", 2, None, False, False, True, True),
    ]


@dataclass(frozen=True, slots=True)
class _Family:
    model: str
    description: str
    kind: str  # "Milling" or "Turning"
    protocol: str
    dnc_group: str
    program_style: str  # "O" (Fanuc O1234) or "PGM" (PGM0014)


_FAMILIES = (
    _Family("DMU50", "DMG MORI DMU 50 5-axis machining centre", "Milling", "Heidenhain LSV2",
            "DMUGroup", "PGM"),
    _Family("HSC70", "DMG HSC 70 linear high-speed machining centre", "Milling",
            "Heidenhain LSV2", "HSCGroup", "PGM"),
    _Family("NLX2500", "DMG MORI NLX 2500 turning centre", "Turning", "FOCAS", "NLXGroup", "O"),
    _Family("Mazak QTN", "Mazak Quick Turn Nexus 250 lathe", "Turning", "SMBClient",
            "MazakGroup", "PGM"),
    _Family("Haas VF2", "Haas VF-2 vertical machining centre", "Milling", "FTPClient",
            "HaasGroup", "O"),
    _Family("Okuma LB3000", "Okuma LB3000 EX II lathe", "Turning", "FTPClient", "OkumaGroup",
            "O"),
    _Family("Hermle C42", "Hermle C 42 U 5-axis machining centre", "Milling",
            "Heidenhain LSV2", "HermleGroup", "PGM"),
    _Family("Robodrill", "FANUC Robodrill α-D21MiB5 drilling centre", "Milling", "FOCAS",
            "RobodrillGroup", "O"),
    _Family("Index G200", "INDEX G200 turn-mill centre", "Turning", "RS232", "IndexGroup",
            "PGM"),
)  # fmt: skip

#: (code, message) of every alarm the world raises; chunks store indices into it.
_ALARMS: tuple[tuple[str, str], ...] = (
    ("SV0401", "V-READY OFF"),
    ("0015", "TOO MANY SIMULTANEOUS AXIS"),
    ("1020", "HYDRAULIC PRESSURE LOW"),
    ("SV0436", "SOFT THERMAL (OVC)"),
    ("1001", "AIR PRESSURE LOW"),
    ("1000", "SPINDLE OVERLOAD"),
    ("SP9031", "SPINDLE SPEED DEVIATION"),
    ("SP9001", "SPINDLE MOTOR OVERHEAT"),
    ("1210", "TOOL BREAKAGE DETECTED"),
    ("1211", "TOOL LENGTH MEASUREMENT FAILED"),
    ("2042", "COOLANT LEVEL LOW"),
    ("1105", "TOOL LIFE EXPIRED"),
    ("2051", "CHIP CONVEYOR OVERLOAD"),
    ("1030", "LUBRICATION OIL LOW"),
)
_BREAKDOWN_ALARMS = {
    BREAKDOWN: (0, 1, 2, 3, 4),
    SPINDLE_FAILURE: (5, 6, 7),
    TOOL_BREAKAGE: (8, 9),
}
_MINOR_ALARMS = (10, 11, 12, 13)
_MAX_ORDERS = 99  # per station and week: order ids keep two digits for it
_LONGEST_ALARM = 3600  # no alarm lasts longer (breakdowns last at most 60 min)

_BREAKDOWN_COMMENTS = {
    BREAKDOWN: (
        "Axis drive fault, maintenance called",
        "Hydraulic pressure drop, pump checked",
        "Servo alarm, cable replaced",
        "Air supply failure, compressor restarted",
    ),
    SPINDLE_FAILURE: (
        "Spindle overheating, bearings checked",
        "Spindle speed deviation, drive reset",
    ),
    TOOL_BREAKAGE: (
        "Broken end mill, tool replaced",
        "Insert chipped, holder replaced",
    ),
}

_CLIENTS = (
    "Aérométal SA",
    "Hydrauliques du Rhône",
    "Précimeca",
    "Turbotech Industries",
    "Ateliers Morel",
    "Normandie Usinage",
    "Alpes Fluides",
    "Sud Aéro Composants",
)

# ----------------------------------------------------------------------------------------
# Calendars
# ----------------------------------------------------------------------------------------

_WORK = -1  # block kind: the workshop is open and the machine runs its own timeline
_REF_MONDAY = date(2000, 1, 3)


@dataclass(frozen=True, slots=True)
class _Calendar:
    """One week of one pattern: contiguous blocks covering [start, end)."""

    start: int
    end: int
    blocks: tuple[tuple[int, int, int], ...]  # (start, end, _WORK | DISENGAGEMENT | BREAK)
    work_after: tuple[int, ...]  # work seconds in the blocks after block i
    openings: tuple[tuple[int, int], ...]


class _Pattern:
    """A weekly shift pattern: (day, hour, minute, block kind) transitions from Monday."""

    def __init__(self, name: str, tz: ZoneInfo, transitions: list[tuple[int, int, int, int]]):
        self.name = name
        self.tz = tz
        self.transitions = transitions
        self.week_start = dtime(transitions[0][1], transitions[0][2])
        self._starts: dict[int, int] = {}
        self._weeks: dict[int, _Calendar] = {}

    def chunk_start(self, k: int) -> int:
        start = self._starts.get(k)
        if start is None:
            day = _REF_MONDAY + timedelta(days=7 * k)
            start = int(datetime.combine(day, self.week_start, tzinfo=self.tz).timestamp())
            self._starts[k] = start
        return start

    def index_of(self, t: float) -> int:
        local = datetime.fromtimestamp(t, self.tz).date()
        k = (local - _REF_MONDAY).days // 7
        if t < self.chunk_start(k):
            k -= 1
        elif t >= self.chunk_start(k + 1):
            k += 1
        return k

    def week(self, k: int) -> _Calendar:
        cal = self._weeks.get(k)
        if cal is not None:
            return cal
        monday = _REF_MONDAY + timedelta(days=7 * k)
        marks = [
            (
                int(
                    datetime.combine(
                        monday + timedelta(days=d), dtime(h, m), tzinfo=self.tz
                    ).timestamp()
                ),
                kind,
            )
            for d, h, m, kind in self.transitions
        ]
        end = self.chunk_start(k + 1)
        blocks = tuple(
            (s, marks[i + 1][0] if i + 1 < len(marks) else end, kind)
            for i, (s, kind) in enumerate(marks)
        )
        work = [e - s if kind == _WORK else 0 for s, e, kind in blocks]
        work_after = tuple(sum(work[i + 1 :]) for i in range(len(work)))
        openings: list[tuple[int, int]] = []
        for s, e, kind in blocks:
            if kind == DISENGAGEMENT:
                continue
            if openings and openings[-1][1] == s:
                openings[-1] = (openings[-1][0], e)
            else:
                openings.append((s, e))
        cal = _Calendar(marks[0][0], end, blocks, work_after, tuple(openings))
        self._weeks[k] = cal
        return cal


def _patterns(tz: ZoneInfo) -> tuple[_Pattern, ...]:
    w, c, b = _WORK, DISENGAGEMENT, BREAK
    three = [(0, 5, 0, w), (5, 5, 0, c)]  # Mon 05:00 to Sat 05:00, continuously
    two = [x for d in range(5) for x in ((d, 5, 0, w), (d, 21, 0, c))]
    day = [
        x for d in range(5) for x in ((d, 7, 30, w), (d, 12, 0, b), (d, 12, 30, w), (d, 16, 0, c))
    ]
    return (_Pattern("3x8", tz, three), _Pattern("2x8", tz, two), _Pattern("day", tz, day))


# ----------------------------------------------------------------------------------------
# Internal records
# ----------------------------------------------------------------------------------------


class _Job:
    """One operation run on the station: its set-up, then production until its parts are made."""

    __slots__ = (
        "cycle",
        "end",
        "first_seg",
        "last_seg",
        "made",
        "name",
        "op_id",
        "order",
        "ppc",
        "program",
        "ptm",
        "scrap",
        "selected_end",
        "setup_start",
        "tcr",
    )

    cycle: float  # actual seconds per machine cycle
    end: int
    first_seg: int
    last_seg: int
    made: int
    name: str
    op_id: int
    order: int  # index of its order in the chunk's orders
    ppc: int  # parts per cycle
    program: str
    ptm: int  # parts to make
    scrap: float
    selected_end: int
    setup_start: int
    tcr: int  # theoretical cycle time, seconds

    def __init__(self) -> None:
        self.first_seg = -1
        self.last_seg = -1
        self.made = 0
        self.end = 0


class _OrderRec:
    __slots__ = ("client", "created", "end", "jobs", "name", "order_id", "planned", "qty", "ref")

    client: str
    created: int
    end: int
    jobs: list[int]  # indexes in the chunk's jobs
    name: str
    order_id: int
    planned: int  # operations planned
    qty: int
    ref: str


class _Chunk:
    """One station's simulated week, in parallel arrays (tops, production, alarms) and jobs."""

    __slots__ = (
        "a_code",
        "a_end",
        "a_start",
        "end",
        "job_starts",
        "jobs",
        "k",
        "orders",
        "p_cycle",
        "p_cycles",
        "p_end",
        "p_job",
        "p_made0",
        "p_start",
        "p_total0",
        "start",
        "t_cal",
        "t_comment",
        "t_start",
        "t_state",
        "total",
    )

    def __init__(self, k: int, start: int, end: int) -> None:
        self.k, self.start, self.end = k, start, end
        self.t_start = array("q")
        self.t_state = bytearray()
        self.t_comment: list[str] = []
        self.t_cal = bytearray()  # 1 when the top starts at a calendar transition
        self.p_start = array("q")
        self.p_end = array("q")
        self.p_cycle = array("d")  # actual seconds per machine cycle
        self.p_cycles = array("l")  # cycles completed in the segment
        self.p_job = array("l")
        self.p_made0 = array("q")  # parts of the job made before the segment
        self.p_total0 = array("q")  # parts of the chunk made before the segment
        self.a_start = array("q")
        self.a_end = array("q")
        self.a_code = array("H")
        self.jobs: list[_Job] = []
        self.job_starts = array("q")
        self.orders: list[_OrderRec] = []
        self.total = 0


class _Edit:
    """A manual state painted over the automatic timeline."""

    __slots__ = ("comment", "created", "end", "start", "state")

    def __init__(self, start: int, state: int, comment: str, created: int) -> None:
        self.start = start
        self.end: float | None = None  # None: open until its natural end is found
        self.state = state
        self.comment = comment
        self.created = created

    def stop(self) -> float:
        return _INF if self.end is None else self.end


class _Station:
    __slots__ = (
        "base0",
        "bases",
        "breakdown_p",
        "chunks",
        "edits",
        "family",
        "handle",
        "info",
        "pattern",
        "refs",
        "reset",
        "snap",
        "valid",
    )

    def __init__(self, info: StationInfo, family: _Family, pattern: _Pattern) -> None:
        self.info = info
        self.handle = info.handle
        self.family = family
        self.pattern = pattern
        self.chunks: dict[int, _Chunk] = {}
        self.bases: dict[int, int] = {}
        self.edits: list[_Edit] = []
        self.reset: tuple[float, int, int] | None = None  # (when, value, total parts then)
        self.snap: StatusSnapshot | None = None
        self.valid = -_INF
        self.base0 = 0
        self.breakdown_p = 0.2
        self.refs: tuple[str, ...] = ()


def _workshop_name(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        letters = chr(65 + rem) + letters
    return f"Building {letters}"


def _join(a: str, b: str) -> str:
    if a and b and a != b:
        return f"{a} + {b}"
    return a or b


# ----------------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------------


class World:
    """The simulated factory. Thread-safe: one lock around every public method."""

    #: Below this much work time left in the week no new job is set up (the last job of a
    #: week is sized to what is made by the weekend; a job needs time to make something).
    MIN_JOB_WORK = 2 * 3600

    def __init__(
        self,
        *,
        stations: int = 24,
        seed: int = 1,
        clock: Callable[[], datetime] | None = None,
        tz: str = "Europe/Paris",
        history_days: int = 14,
        speed: float = 1.0,
    ) -> None:
        if stations < 1:
            raise ValueError("a world needs at least one station")
        if history_days < 0:
            raise ValueError("history_days must be zero or positive")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.tz = ZoneInfo(tz)
        self._lock = threading.RLock()
        self._seed = seed
        self._clock = clock
        self._speed = speed
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._last_now = -_INF
        t0 = self._now_ts()
        self._history_start = int(t0) - history_days * DAY
        self.states = _make_states()
        self._states = {s.handle: s for s in self.states}
        failure_states = {BREAKDOWN} | {s.handle for s in self.states if s.parent == BREAKDOWN}
        self._buckets = {
            s.handle: oee.default_bucket(s.oee_category, is_failure=s.handle in failure_states)
            for s in self.states
        }
        self._patterns = _patterns(self.tz)
        self._stations = self._make_stations(stations)
        self.stations = [st.info for st in self._stations]
        self._heap: list[tuple[float, int]] = [(-_INF, st.handle) for st in self._stations]
        self._snaps: list[StatusSnapshot | None] = [None] * stations

    # -- time ---------------------------------------------------------------------------

    def _now_ts(self) -> float:
        """Seconds since the epoch; never goes backwards (a clock set back is ignored)."""
        if self._clock is not None:
            dt = self._clock()
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=self.tz)
            ts = dt.timestamp()
        else:
            ts = self._wall0 + (time.monotonic() - self._mono0) * self._speed
        if ts < self._last_now:
            ts = self._last_now
        self._last_now = ts
        return ts

    def now(self) -> datetime:
        with self._lock:
            return self._dt(self._now_ts())

    def _dt(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def _ts(self, dt: datetime) -> float:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt.timestamp()

    # -- construction -------------------------------------------------------------------

    def _make_stations(self, count: int) -> list[_Station]:
        rng = random.Random(f"{self._seed}:stations")
        n_workshops = max(3, math.ceil(count / 30))
        per = math.ceil(count / n_workshops)
        model_counts: dict[str, int] = {}
        out: list[_Station] = []
        for index in range(count):
            handle = index + 1
            w = index // per
            pos = index % per
            workshop = _workshop_name(w)
            family = rng.choice(_FAMILIES)
            model_counts[family.model] = model_counts.get(family.model, 0) + 1
            name = f"{family.model}-{model_counts[family.model]:02d}"
            line = pos // 6 + 1
            info = StationInfo(
                handle=handle,
                name=name,
                description=f"{family.description}, {workshop}, line {line}",
                disabled=handle % 25 == 13,  # ~1 in 25
                dnc_mode=rng.random() < 0.95,
                mdc_mode=handle % 30 != 7,  # ~1 in 30 without MDC
                workshop=workshop,
                dnc_group=family.dnc_group,
                mdc_groups=(family.kind, f"Line{line}"),
                protocol=family.protocol,
                has_image=rng.random() < 0.7,
            )
            st = _Station(info, family, self._patterns[w % 3])
            st.base0 = rng.randint(2_000, 600_000)
            st.breakdown_p = 0.1 + rng.random() * 0.2
            letter = rng.choice("ABCDHKMPRS")
            st.refs = tuple(
                f"{letter}{rng.randint(100000, 999999)}-{rng.randint(100, 999)}" for _ in range(6)
            )
            out.append(st)
        return out

    # -- lookups and checks -------------------------------------------------------------

    def _station(self, handle: int) -> _Station:
        if isinstance(handle, bool) or not isinstance(handle, int):
            raise WorldError(2003, f"This station is not available or does not exist ({handle!r})")
        if not 1 <= handle <= len(self._stations):
            raise WorldError(2003, f"This station is not available or does not exist ({handle})")
        return self._stations[handle - 1]

    def station(self, handle: int) -> StationInfo:
        with self._lock:
            return self._station(handle).info

    def state(self, handle: int) -> StateDef:
        with self._lock:
            state = self._states.get(handle) if isinstance(handle, int) else None
            if state is None:
                raise WorldError(2005, f"This state does not exist ({handle!r})")
            return state

    def _writable(self, handle: int) -> _Station:
        st = self._station(handle)
        if st.info.disabled:
            raise WorldError(2003, f"This station is not available or does not exist ({handle})")
        if not st.info.mdc_mode:
            raise WorldError(2007, f"This station is not in MDC mode ({handle})")
        return st

    def _check_state(self, state: int, allowed_states: AbstractSet[int] | None) -> StateDef:
        definition = self._states.get(state) if isinstance(state, int) else None
        if definition is None:
            raise WorldError(2005, f"This state does not exist ({state!r})")
        if definition.archived:
            raise WorldError(2006, f"This state is archived ({state})")
        if allowed_states is not None and state not in allowed_states:
            raise WorldError(2021, f"The state is not included in the station scenario ({state})")
        return definition

    # -- chunks -------------------------------------------------------------------------

    def _first_k(self, st: _Station) -> int:
        return st.pattern.index_of(self._history_start)

    def _chunk(self, st: _Station, k: int) -> _Chunk:
        chunk = st.chunks.get(k)
        if chunk is None:
            chunk = self._simulate(st, k)
            st.chunks[k] = chunk
        return chunk

    def _base(self, st: _Station, k: int) -> int:
        """TotalParts at the start of chunk k (counted from the first chunk of the history)."""
        base = st.bases.get(k)
        if base is not None:
            return base
        first = self._first_k(st)
        j = k
        while j > first and (j - 1) not in st.bases:
            j -= 1
        base = st.base0 if j <= first else st.bases[j - 1] + self._chunk(st, j - 1).total
        while j <= k:
            st.bases[j] = base
            if j < k:
                base += self._chunk(st, j).total
            j += 1
        return st.bases[k]

    def _simulate(self, st: _Station, k: int) -> _Chunk:
        cal = st.pattern.week(k)
        ch = _Chunk(k, cal.start, cal.end)
        t_start, t_state = ch.t_start.append, ch.t_state.append
        t_comment, t_cal = ch.t_comment.append, ch.t_cal.append
        if st.info.disabled:
            t_start(cal.start)
            t_state(DISENGAGEMENT)
            t_comment("")
            t_cal(1)
            return ch
        rng = random.Random(f"{self._seed}:{st.handle}:{k}")
        r = rng.random
        family = st.family
        turning = family.kind == "Turning"
        breakdown_p = st.breakdown_p
        p_start, p_end, p_cycle = ch.p_start.append, ch.p_end.append, ch.p_cycle.append
        p_cycles, p_job = ch.p_cycles.append, ch.p_job.append
        p_made0, p_total0 = ch.p_made0.append, ch.p_total0.append
        a_start, a_end, a_code = ch.a_start.append, ch.a_end.append, ch.a_code.append
        jobs, orders = ch.jobs, ch.orders
        id_base = st.handle * 100000 + (k % 1000) * 100

        last_state = -1

        def top(t: int, state: int, comment: str, calendar: int) -> None:
            nonlocal last_state
            if state != last_state:
                t_start(t)
                t_state(state)
                t_comment(comment)
                t_cal(calendar)
                last_state = state

        job: _Job | None = None
        order: _OrderRec | None = None
        job_index = -1
        made = total = 0
        job_done = True
        after_production = False
        pending: tuple[int, int, str] | None = None  # an interrupted set-up or breakdown
        work_blocks = [i for i, b in enumerate(cal.blocks) if b[2] == _WORK]
        pm_block = rng.choice(work_blocks) if r() < 0.3 else -1

        for bi, (bs, be, kind) in enumerate(cal.blocks):
            if kind != _WORK:
                top(bs, kind, "", 1)
                after_production = False
                continue
            t = bs
            calendar = 1
            if bi == pm_block and pending is None:
                maintenance = 3600 + int(r() * 5400)
                top(t, PREVENTIVE_MAINTENANCE, "Preventive maintenance (monthly check)", 1)
                t = min(be, t + maintenance)
                calendar = 0
            while t < be:
                if pending is not None:
                    state, rest, comment = pending
                    pending = None
                    e = t + rest
                    if e > be:
                        pending = (state, e - be, comment)
                        e = be
                    top(t, state, comment, calendar)
                    after_production = False
                elif job_done:
                    if (
                        cal.work_after[bi] + (be - t) < self.MIN_JOB_WORK
                        or len(orders) >= _MAX_ORDERS
                    ):
                        top(t, WAITING, "No job planned before the weekend", calendar)
                        t = be
                        after_production = False
                        continue
                    # A set-up: the next operation of the order, or a new order.
                    job = _Job()
                    if turning:
                        job.tcr = 45 + int(r() * 315)
                        job.ppc = 2 if r() < 0.15 else 1
                    else:
                        job.tcr = 120 + int(r() * 1380)
                        x = r()
                        job.ppc = 1 if x < 0.6 else 2 if x < 0.85 else 4
                    if r() < 0.06:  # a pessimistic tCR: the machine beats it
                        job.cycle = job.tcr * (0.92 + r() * 0.06)
                    else:
                        job.cycle = job.tcr * (1.03 + r() * 0.12)
                    setup = 900 + int(r() * 1800)
                    # Cycles the rest of the week can hold at a plausible efficiency: the
                    # planner does not start what cannot be finished before the weekend.
                    capacity = int((cal.work_after[bi] + (be - t) - setup) * 0.6 / job.cycle)
                    if order is not None and order.qty // job.ppc > capacity:
                        order.planned = len(order.jobs)  # the next operation waits
                    if order is None or len(order.jobs) >= order.planned:
                        order = _OrderRec()
                        order.order_id = id_base + len(orders)
                        order.name = str(rng.randint(100000, 999999))
                        order.ref = rng.choice(st.refs)
                        order.client = rng.choice(_CLIENTS)
                        order.created = max(cal.start, t - 7200 - int(r() * 100800))
                        order.planned = 1 + int(r() * 3)
                        order.jobs = []
                        hours = 3 + r() * 18
                        # Multiples of 4, so every parts-per-cycle (1, 2, 4) divides them.
                        qty = max(20, round(hours * 3600 * job.ppc / job.tcr / 20) * 20)
                        if qty // job.ppc > capacity:
                            qty = max(4, capacity * job.ppc // 4 * 4)
                        order.qty = qty
                        order.end = 0
                        orders.append(order)
                    job.op_id = order.order_id * 10 + len(order.jobs) + 1
                    job.order = len(orders) - 1
                    job.name = str(10 * (len(order.jobs) + 1))
                    job.ptm = order.qty
                    job.scrap = 0.01 + r() * 0.02
                    number = rng.randint(1000, 9999)
                    job.program = f"O{number}" if family.program_style == "O" else f"PGM{number}"
                    job.setup_start = t
                    jobs.append(job)
                    ch.job_starts.append(t)
                    order.jobs.append(len(jobs) - 1)
                    job_index = len(jobs) - 1
                    made = 0
                    job_done = False
                    comment = f"Setting for next job ({order.name}-{job.name})"
                    e = t + setup
                    if e > be:
                        pending = (SETTING, e - be, comment)
                        e = be
                    top(t, SETTING, comment, calendar)
                    after_production = False
                elif after_production:
                    x = r()
                    if x < breakdown_p:
                        y = r()
                        state = (
                            BREAKDOWN if y < 0.6 else SPINDLE_FAILURE if y < 0.8 else TOOL_BREAKAGE
                        )
                        comment = rng.choice(_BREAKDOWN_COMMENTS[state]) if r() < 0.8 else ""
                        e = t + 600 + int(r() * 3000)
                        if e > be:
                            pending = (state, e - be, comment)
                            e = be
                        top(t, state, comment, calendar)
                        codes = _BREAKDOWN_ALARMS[state]
                        first = codes[int(r() * len(codes))]
                        length = e - t
                        a_start(t)
                        a_end(e - int(r() * min(300, length // 3)))
                        a_code(first)
                        if r() < 0.4:
                            second = codes[int(r() * len(codes))]
                            s2 = t + int(r() * min(120, length // 4))
                            e2 = e - int(r() * min(600, length // 2))
                            if second != first and e2 > s2:
                                a_start(s2)
                                a_end(e2)
                                a_code(second)
                    elif x < breakdown_p + 0.1:
                        e = min(be, t + 180 + int(r() * 420))
                        top(t, TOOL_CHANGE, "", calendar)
                    else:
                        y = r()
                        state = WAITING if y < 0.5 else NO_MATERIAL if y < 0.75 else NO_OPERATOR
                        e = min(be, t + 300 + int(r() * 1200))
                        top(t, state, "", calendar)
                    after_production = False
                else:
                    assert job is not None
                    cycle = job.cycle
                    ppc = job.ppc
                    d = 1200 + r() * 6000
                    if d < 2.2 * cycle:
                        d = 2.2 * cycle
                    e = min(be, t + int(d))
                    possible = int((e - t) / cycle)
                    needed = -(-(job.ptm - made) // ppc)
                    if needed <= possible:
                        cycles = needed
                        e = t + math.ceil(needed * cycle)
                        job_done = True
                    else:
                        cycles = possible
                    top(t, PRODUCTION, "", calendar)
                    seg = len(ch.p_start)
                    if job.first_seg < 0:
                        job.first_seg = seg
                    job.last_seg = seg
                    p_start(t)
                    p_end(e)
                    p_cycle(cycle)
                    p_cycles(cycles)
                    p_job(job_index)
                    p_made0(made)
                    p_total0(total)
                    if r() < 0.15:  # a short alarm that does not stop the machine
                        s = t + int(r() * (e - t) * 0.8)
                        ae = min(e, s + 30 + int(r() * 270))
                        if ae > s:
                            a_start(s)
                            a_end(ae)
                            a_code(_MINOR_ALARMS[int(r() * len(_MINOR_ALARMS))])
                    made += cycles * ppc
                    total += cycles * ppc
                    job.made = made
                    job.end = e
                    after_production = True
                t = e
                calendar = 0

        # The week's last job: sized to what was made by the weekend.
        if job is not None and not job_done and made > 0:
            job.ptm = made
        ch.total = total
        for i, j in enumerate(jobs):
            j.selected_end = jobs[i + 1].setup_start if i + 1 < len(jobs) else cal.end
            if j.first_seg < 0:
                j.end = j.selected_end
        for o in orders:
            o.end = jobs[o.jobs[-1]].end
        return ch

    # -- the automatic timeline and the painted one --------------------------------------

    def _visible_end(self, now: float) -> int:
        """Tops starting before this are visible (tops start on whole seconds)."""
        return math.floor(now) + 1

    def _auto_tops(
        self, st: _Station, lo: float, hi: float
    ) -> list[tuple[int, float, int, str, int]]:
        """Automatic tops overlapping [lo, hi): (start, end, state, comment, calendar flag).

        The first visible top starts at the history start; ``hi`` must not pass the visible end.
        """
        h = self._history_start
        if st.info.disabled:
            return [(h, _INF, DISENGAGEMENT, "", 1)] if hi > h else []
        out: list[tuple[int, float, int, str, int]] = []
        k = st.pattern.index_of(max(lo, h))
        while True:
            ch = self._chunk(st, k)
            if ch.start >= hi:
                break
            starts = ch.t_start
            n = len(starts)
            i = max(0, bisect_right(starts, lo) - 1)
            while i < n:
                s = starts[i]
                if s >= hi:
                    break
                e = starts[i + 1] if i + 1 < n else ch.end
                if e > lo and e > h:
                    out.append((max(s, h), e, ch.t_state[i], ch.t_comment[i], ch.t_cal[i]))
                i += 1
            if ch.end >= hi:
                break
            k += 1
        return out

    def _resolve_edits(self, st: _Station, now: float) -> None:
        """Find the natural end of the open edit, if it has come (never changes afterwards)."""
        if not st.edits or st.edits[-1].end is not None:
            return
        edit = st.edits[-1]
        vis = self._visible_end(now)
        for s, _e, state, _c, calendar in self._auto_tops(st, edit.created, vis):
            if s > edit.created and (state == PRODUCTION or calendar):
                edit.end = s
                return

    def _eff_tops(self, st: _Station, lo: float, hi: float) -> list[tuple[float, float, int, str]]:
        """The tops as shown (edits painted, same-state neighbours merged) overlapping [lo, hi).

        Ends may lie after now (the current top) or be infinite (an open edit).
        """
        if not st.edits:
            return [(s, e, state, c) for s, e, state, c, _ in self._auto_tops(st, lo, hi)]
        vis = self._visible_end(self._last_now)
        lo0, hi0 = lo, hi
        while True:
            autos = self._auto_tops(st, lo0, hi0)
            first = autos[0][0] if autos else lo0
            last = autos[-1][1] if autos else hi0
            rel = [ed for ed in st.edits if ed.start < last and ed.stop() >= first]
            nlo = min([lo0] + [ed.start for ed in rel])
            nhi = max([hi0] + [min(ed.stop() + 1, vis) for ed in rel])
            if nlo == lo0 and nhi == hi0:
                break
            lo0, hi0 = nlo, nhi
        if not rel:
            return [(s, e, state, c) for s, e, state, c, _ in autos if s < hi and e > lo]
        pieces: list[tuple[float, float, int, str]] = []
        for s, e, state, c, _ in autos:
            cur: float = s
            for ed in rel:
                if ed.stop() <= cur or ed.start >= e:
                    continue
                if ed.start > cur:
                    pieces.append((cur, ed.start, state, c))
                cur = max(cur, ed.stop())
                if cur >= e:
                    break
            if cur < e:
                pieces.append((cur, e, state, c))
        pieces.extend((ed.start, ed.stop(), ed.state, ed.comment) for ed in rel)
        pieces.sort()
        merged: list[tuple[float, float, int, str]] = []
        for piece in pieces:
            if merged and merged[-1][2] == piece[2] and merged[-1][1] >= piece[0]:
                prev = merged[-1]
                merged[-1] = (prev[0], max(prev[1], piece[1]), prev[2], _join(prev[3], piece[3]))
            else:
                merged.append(piece)
        return [p for p in merged if p[0] < hi and p[1] > lo]

    def _current_top(self, st: _Station, now: float) -> tuple[float, float, int, str]:
        vis = self._visible_end(now)
        tops = self._eff_tops(st, math.floor(now), vis)
        return tops[-1]

    def _previous_top(self, st: _Station, before: float) -> tuple[float, float, int, str] | None:
        if before <= self._history_start:
            return None
        tops = self._eff_tops(st, max(self._history_start, before - 1), before)
        return tops[-1] if tops else None

    # -- parts ----------------------------------------------------------------------------

    @staticmethod
    def _seg_parts(ch: _Chunk, i: int, t: float, ppc: int) -> int:
        """Parts the production segment i has made by t."""
        done = int((t - ch.p_start[i]) / ch.p_cycle[i])
        cycles = ch.p_cycles[i]
        return (done if done < cycles else cycles) * ppc

    def _job_made(self, ch: _Chunk, job: _Job, t: float) -> int:
        if job.first_seg < 0 or t <= ch.p_start[job.first_seg]:
            return 0
        i = bisect_right(ch.p_start, t, job.first_seg, job.last_seg + 1) - 1
        return ch.p_made0[i] + self._seg_parts(ch, i, t, job.ppc)

    def _total_parts(self, st: _Station, t: float) -> int:
        if st.info.disabled:
            return st.base0
        k = st.pattern.index_of(t)
        ch = self._chunk(st, k)
        base = self._base(st, k)
        i = bisect_right(ch.p_start, t) - 1
        if i < 0:
            return base
        job = ch.jobs[ch.p_job[i]]
        return base + ch.p_total0[i] + self._seg_parts(ch, i, t, job.ppc)

    @staticmethod
    def _good(made: int, scrap: float) -> int:
        return made - int(made * scrap)

    # -- status -----------------------------------------------------------------------------

    def _compute_status(self, st: _Station, now: float) -> tuple[StatusSnapshot, float]:
        self._resolve_edits(st, now)
        handle = st.handle
        h = self._history_start
        if st.info.disabled:
            snap = StatusSnapshot(
                handle, DISENGAGEMENT, self._dt(h), "", "", "", "", 0, 0, (), None, None,
                st.base0, st.reset[1] if st.reset else 0,
            )  # fmt: skip
            return snap, _INF
        k = st.pattern.index_of(now)
        ch = self._chunk(st, k)
        i = bisect_right(ch.t_start, now) - 1
        valid = float(ch.t_start[i + 1] if i + 1 < len(ch.t_start) else ch.end)
        if st.edits:
            since, _end, state, comment = self._current_top(st, now)
        else:
            since, state, comment = max(ch.t_start[i], h), ch.t_state[i], ch.t_comment[i]

        ji = bisect_right(ch.job_starts, now) - 1
        job = ch.jobs[ji] if ji >= 0 else None
        order = ch.orders[job.order] if job is not None else None

        base = self._base(st, k)
        pi = bisect_right(ch.p_start, now) - 1
        running = None
        total = base
        if pi >= 0:
            seg_job = ch.jobs[ch.p_job[pi]]
            total += ch.p_total0[pi] + self._seg_parts(ch, pi, now, seg_job.ppc)
            if now < ch.p_end[pi]:
                running = seg_job.program
                done = int((now - ch.p_start[pi]) / ch.p_cycle[pi])
                if done < ch.p_cycles[pi]:
                    valid = min(valid, ch.p_start[pi] + (done + 1) * ch.p_cycle[pi])
        job_made = self._job_made(ch, job, now) if job is not None else 0
        since_reset = job_made
        if st.reset is not None:
            when, value, total_then = st.reset
            if job is None or job.setup_start <= when:
                since_reset = value + total - total_then

        alarms: list[AlarmRecord] = []
        starts = ch.a_start
        ai = bisect_right(starts, now)
        if ai < len(starts):
            valid = min(valid, starts[ai])
        j = ai - 1
        while j >= 0 and starts[j] > now - _LONGEST_ALARM:
            end = ch.a_end[j]
            if end > now:
                code, message = _ALARMS[ch.a_code[j]]
                alarms.append(AlarmRecord(code, message, self._dt(max(starts[j], h)), None))
                valid = min(valid, end)
            j -= 1
        alarms.reverse()

        snap = StatusSnapshot(
            station=handle,
            state=state,
            since=self._dt(since),
            comment=comment,
            order=order.name if order else "",
            job=job.name if job else "",
            reference=order.ref if order else "",
            job_cycle_time=job.tcr if job else 0,
            part_target=job.ptm if job else 0,
            alarms=tuple(alarms),
            running_program=running,
            selected_program=job.program if job else None,
            total_parts=total,
            parts_since_reset=since_reset,
        )
        return snap, valid

    def _refresh(self, st: _Station, now: float) -> StatusSnapshot:
        snap, valid = self._compute_status(st, now)
        st.snap = snap
        st.valid = valid
        self._snaps[st.handle - 1] = snap
        heapq.heappush(self._heap, (valid, st.handle))
        if len(self._heap) > 4 * len(self._stations) + 1024:
            # status() alone never pops: drop the stale entries now and then.
            self._heap = [(s.valid, s.handle) for s in self._stations]
            heapq.heapify(self._heap)
        return snap

    def _invalidate(self, st: _Station) -> None:
        st.valid = -_INF
        heapq.heappush(self._heap, (-_INF, st.handle))

    def status(self, handle: int) -> StatusSnapshot:
        with self._lock:
            st = self._station(handle)
            now = self._now_ts()
            if st.snap is None or st.valid <= now:
                return self._refresh(st, now)
            return st.snap

    def statuses(self) -> list[StatusSnapshot]:
        with self._lock:
            now = self._now_ts()
            heap = self._heap
            stations = self._stations
            while heap and heap[0][0] <= now:
                valid, handle = heapq.heappop(heap)
                st = stations[handle - 1]
                if valid != st.valid:
                    continue  # a stale entry: the station was refreshed since
                self._refresh(st, now)
            # Every entry is set: the heap starts with every station due, so each was refreshed.
            return cast(list[StatusSnapshot], list(self._snaps))

    # -- history ----------------------------------------------------------------------------

    def _record(self, st: _Station, top: tuple[float, float, int, str], now: float) -> TopRecord:
        s, e, state, comment = top
        return TopRecord(st.handle, state, self._dt(s), None if e > now else self._dt(e), comment)

    def tops(
        self, handle: int, start: datetime, end: datetime, before: int = 0, after: int = 0
    ) -> list[TopRecord]:
        with self._lock:
            st = self._station(handle)
            now = self._now_ts()
            self._resolve_edits(st, now)
            vis = self._visible_end(now)
            h = self._history_start
            q0, q1 = self._ts(start), self._ts(end)
            lo, hi = max(q0, h), min(q1, vis)
            inside = [t for t in self._eff_tops(st, lo, hi) if q0 <= t[0] < q1] if lo < hi else []
            result: list[tuple[float, float, int, str]] = []
            if before > 0:
                edge = min(q0, vis)
                span = float(DAY)
                while edge > h:
                    lower = max(h, edge - span)
                    found = [t for t in self._eff_tops(st, lower, edge) if t[0] < edge]
                    if len(found) >= before or lower <= h:
                        result = found[-before:]
                        break
                    span *= 4
            result.extend(inside)
            if after > 0 and q1 < vis:
                edge = max(q1, h)
                span = float(DAY)
                while True:
                    upper = min(vis, edge + span)
                    found = [t for t in self._eff_tops(st, edge, upper) if t[0] >= q1]
                    if len(found) >= after or upper >= vis:
                        result.extend(found[:after])
                        break
                    span *= 4
            return [self._record(st, t, now) for t in result]

    def _chunks_over(self, st: _Station, lo: float, hi: float) -> list[_Chunk]:
        k0 = st.pattern.index_of(lo)
        k1 = st.pattern.index_of(hi)
        return [self._chunk(st, k) for k in range(k0, k1 + 1)]

    def _history_range(self, q0: float, q1: float, now: float) -> tuple[float, float] | None:
        lo, hi = max(q0, self._history_start), min(q1, now)
        return (lo, hi) if lo <= hi and q0 < q1 else None

    def _history(
        self,
        handle: int,
        start: datetime,
        end: datetime,
        rows: Callable[[_Chunk, float], Iterable[tuple[float, float, tuple[str, str]]]],
        make: Callable[[str, str, datetime, datetime | None], _Interval],
    ) -> list[_Interval]:
        """Intervals of one kind overlapping [start, end), cut to the history, open if running.

        ``rows`` gives a chunk's intervals from about ``q0`` on, in start order, as
        (start, end, (first field, second field)); ``make`` builds the record.
        """
        with self._lock:
            st = self._station(handle)
            now = self._now_ts()
            q0, q1 = self._ts(start), self._ts(end)
            span = self._history_range(q0, q1, now)
            if span is None or st.info.disabled:
                return []
            h = self._history_start
            out: list[_Interval] = []
            for ch in self._chunks_over(st, *span):
                for s, e, (first, second) in rows(ch, q0):
                    if s >= q1 or s > now:
                        break
                    if e > q0 and e > h:
                        out.append(
                            make(
                                first, second, self._dt(max(s, h)), None if e > now else self._dt(e)
                            )
                        )
            return out

    def alarms(self, handle: int, start: datetime, end: datetime) -> list[AlarmRecord]:
        def rows(ch: _Chunk, q0: float) -> Iterator[tuple[float, float, tuple[str, str]]]:
            starts = ch.a_start
            for i in range(bisect_left(starts, q0 - _LONGEST_ALARM), len(starts)):
                yield starts[i], ch.a_end[i], _ALARMS[ch.a_code[i]]

        return self._history(handle, start, end, rows, AlarmRecord)

    def running_programs(self, handle: int, start: datetime, end: datetime) -> list[ProgramRun]:
        def rows(ch: _Chunk, q0: float) -> Iterator[tuple[float, float, tuple[str, str]]]:
            starts = ch.p_start
            for i in range(max(0, bisect_right(starts, q0) - 1), len(starts)):
                job = ch.jobs[ch.p_job[i]]
                yield starts[i], ch.p_end[i], (job.program, ch.orders[job.order].ref)

        return self._history(handle, start, end, rows, ProgramRun)

    def selected_programs(self, handle: int, start: datetime, end: datetime) -> list[ProgramRun]:
        def rows(ch: _Chunk, q0: float) -> Iterator[tuple[float, float, tuple[str, str]]]:
            for job in ch.jobs:
                yield job.setup_start, job.selected_end, (job.program, ch.orders[job.order].ref)

        return self._history(handle, start, end, rows, ProgramRun)

    def _openings(self, st: _Station, lo: float, hi: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        if hi <= lo:
            return out
        for k in range(st.pattern.index_of(lo), st.pattern.index_of(hi) + 1):
            for s, e in st.pattern.week(k).openings:
                a, b = max(s, lo), min(e, hi)
                if a >= b:
                    continue
                if out and out[-1][1] == a:
                    out[-1] = (out[-1][0], b)
                else:
                    out.append((a, b))
        return out

    def opening(
        self, handle: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        with self._lock:
            st = self._station(handle)
            spans = self._openings(st, self._ts(start), self._ts(end))
            return [(self._dt(s), self._dt(e)) for s, e in spans]

    def kpi(self, handle: int, start: datetime, end: datetime) -> oee.Kpis:
        """KPIs over [start, end) cut to the simulated history: [history start, now]."""
        with self._lock:
            st = self._station(handle)
            now = self._now_ts()
            self._resolve_edits(st, now)
            lo = max(self._ts(start), self._history_start)
            hi = max(lo, min(self._ts(end), now))
            # Whole tops (compute clips them): a failure that began before the period must
            # keep its real start, or it would be counted in this period too.
            intervals = [
                oee.Interval(self._dt(s), self._dt(min(e, now)), self._buckets[state])
                for s, e, state, _c in (self._eff_tops(st, lo, hi) if hi > lo else [])
            ]
            references: list[oee.ReferenceCount] = []
            if hi > lo and not st.info.disabled:
                for ch in self._chunks_over(st, lo, hi):
                    for job in ch.jobs:
                        if job.setup_start >= hi or job.selected_end <= lo:
                            continue
                        made_lo = self._job_made(ch, job, lo)
                        made_hi = self._job_made(ch, job, hi)
                        good = self._good(made_hi, job.scrap) - self._good(made_lo, job.scrap)
                        references.append(
                            oee.ReferenceCount(made_hi - made_lo, good, job.tcr / job.ppc)
                        )
            return oee.compute(
                start=self._dt(lo),
                end=self._dt(hi),
                intervals=intervals,
                opening=[(self._dt(s), self._dt(e)) for s, e in self._openings(st, lo, hi)],
                references=references,
            )

    # -- writes -----------------------------------------------------------------------------

    def _add_edit(self, st: _Station, edit: _Edit) -> None:
        """Insert an edit: edits it covers go, one it cuts is shortened."""
        kept: list[_Edit] = []
        for ed in st.edits:
            if ed.start >= edit.start:
                continue
            if ed.stop() > edit.start:
                ed.end = edit.start
            kept.append(ed)
        kept.append(edit)
        st.edits = kept

    def change_state(
        self,
        handle: int,
        state: int,
        comment: str = "",
        allowed_states: AbstractSet[int] | None = None,
    ) -> TopRecord:
        with self._lock:
            st = self._writable(handle)
            self._check_state(state, allowed_states)
            now = self._now_ts()
            self._resolve_edits(st, now)
            current = self._current_top(st, now)
            if current[2] == state:
                raise WorldError(2020, "This status is already assigned to the station")
            t = math.floor(now)
            self._add_edit(st, _Edit(t, state, comment or "", t))
            self._invalidate(st)
            return self._record(st, self._current_top(st, now), now)

    def replace_current_state(
        self,
        handle: int,
        state: int,
        comment: str | None = None,
        allowed_states: AbstractSet[int] | None = None,
    ) -> TopRecord:
        with self._lock:
            st = self._writable(handle)
            self._check_state(state, allowed_states)
            now = self._now_ts()
            self._resolve_edits(st, now)
            current = self._current_top(st, now)
            if current[2] == state:
                raise WorldError(2020, "This status is already assigned to the station")
            previous = self._previous_top(st, current[0])
            if previous is not None and previous[2] == state:
                # The two tops merge; without a comment theirs are joined (the doc's rule).
                text = comment if comment is not None else _join(previous[3], current[3])
                start = previous[0]
            else:
                text = comment if comment is not None else current[3]
                start = current[0]
            self._add_edit(st, _Edit(int(start), state, text, math.floor(now)))
            self._invalidate(st)
            return self._record(st, self._current_top(st, now), now)

    def force_auto_state(self, handle: int) -> TopRecord:
        with self._lock:
            st = self._writable(handle)
            now = self._now_ts()
            self._resolve_edits(st, now)
            if st.edits and st.edits[-1].end is None:
                edit = st.edits[-1]
                t = math.floor(now)
                if t <= edit.start:
                    st.edits.pop()
                else:
                    edit.end = t
                self._invalidate(st)
            return self._record(st, self._current_top(st, now), now)

    def reset_part_count(self, handle: int, value: int) -> None:
        with self._lock:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WorldError(1010, f"Error in parameters: PartCount {value!r}")
            st = self._writable(handle)
            now = self._now_ts()
            st.reset = (now, value, self._total_parts(st, now))
            self._invalidate(st)

    # -- orders and operations ----------------------------------------------------------------

    def _order_state(self, ch: _Chunk, o: _OrderRec, now: float) -> int:
        if ch.jobs[o.jobs[0]].setup_start > now:
            return -1
        if o.end <= now:
            return 2
        return 0

    def _make_order(self, ch: _Chunk, o: _OrderRec, now: float) -> Order:
        state = self._order_state(ch, o, now)
        return Order(
            order_id=o.order_id,
            name=o.name,
            creation_date=self._dt(o.created),
            description=f"{o.qty} × {o.ref} for {o.client}",
            part_reference=o.ref,
            client=o.client,
            current_state=state,
            valid=True,
            archived=state == 2 and o.end < now - 2 * DAY,
        )

    def _make_operation(self, st: _Station, ch: _Chunk, job: _Job, now: float) -> Operation:
        o = ch.orders[job.order]
        if job.setup_start > now:
            state = -1
        elif job.end <= now:
            state = 2
        else:
            state = 0
        return Operation(
            operation_id=job.op_id,
            order_id=o.order_id,
            name=job.name,
            creation_date=self._dt(o.created),
            description=f"Operation {job.name} for part {o.ref}",
            cnc_id=st.handle,
            document_id=0,
            current_state=state,
            parts_to_make=job.ptm,
            parts_made=self._job_made(ch, job, now),
            parts_per_cycle=job.ppc,
            cycle_time=job.tcr,
        )

    def _listed_chunks(self, st: _Station, now: float) -> list[_Chunk]:
        """Chunks that can hold a listed order: created by now, not finished 2 days before."""
        if st.info.disabled:
            return []
        k0 = max(self._first_k(st), st.pattern.index_of(max(now - 2 * DAY, self._history_start)))
        return [self._chunk(st, k) for k in range(k0, st.pattern.index_of(now) + 1)]

    def _listed_orders(self, st: _Station, now: float) -> list[tuple[_Chunk, _OrderRec]]:
        out = []
        for ch in self._listed_chunks(st, now):
            for o in ch.orders:
                if o.created <= now and not (o.end <= now and o.end < now - 2 * DAY):
                    out.append((ch, o))
        return out

    def orders(self) -> list[Order]:
        with self._lock:
            now = self._now_ts()
            return [
                self._make_order(ch, o, now)
                for st in self._stations
                for ch, o in self._listed_orders(st, now)
            ]

    def _find(self, order_id: int) -> tuple[_Station, _Chunk, _OrderRec] | None:
        """The order an id names (station × 100000 + week % 1000 × 100 + sequence)."""
        if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id < 0:
            return None
        handle, rest = divmod(order_id, 100000)
        week, seq = divmod(rest, 100)
        if not 1 <= handle <= len(self._stations):
            return None
        st = self._stations[handle - 1]
        if st.info.disabled:
            return None
        now = self._last_now
        for k in range(self._first_k(st), st.pattern.index_of(now) + 1):
            if k % 1000 == week:
                ch = self._chunk(st, k)
                if seq < len(ch.orders) and ch.orders[seq].created <= now:
                    return st, ch, ch.orders[seq]
                return None
        return None

    def order(self, order_id: int) -> Order:
        with self._lock:
            now = self._now_ts()
            found = self._find(order_id)
            if found is None:
                raise WorldError(2004, f"Ressource not found (order {order_id!r})")
            _st, ch, o = found
            return self._make_order(ch, o, now)

    def operations(self, cnc: int | None = None, order: int | None = None) -> list[Operation]:
        with self._lock:
            now = self._now_ts()
            if order is not None:  # the doc: with both filters, only the order filter applies
                found = self._find(order)
                if found is None:
                    return []
                st, ch, o = found
                return [self._make_operation(st, ch, ch.jobs[j], now) for j in o.jobs]
            if cnc is not None:
                if isinstance(cnc, bool) or not isinstance(cnc, int):
                    return []
                if not 1 <= cnc <= len(self._stations):
                    return []
                stations = [self._stations[cnc - 1]]
            else:
                stations = self._stations
            return [
                self._make_operation(st, ch, ch.jobs[j], now)
                for st in stations
                for ch, o in self._listed_orders(st, now)
                for j in o.jobs
            ]

    def operation(self, operation_id: int) -> Operation:
        """An operation by id (its order's id × 10 + its rank in the order, 1–3)."""
        with self._lock:
            now = self._now_ts()
            if isinstance(operation_id, int) and not isinstance(operation_id, bool):
                order_id, rank = divmod(operation_id, 10)
                found = self._find(order_id) if operation_id >= 0 else None
                if found is not None and 1 <= rank <= len(found[2].jobs):
                    st, ch, o = found
                    return self._make_operation(st, ch, ch.jobs[o.jobs[rank - 1]], now)
            raise WorldError(2004, f"Ressource not found (operation {operation_id!r})")
