"""The KPI norm NF E60-182 (and its ISO 22400-2 cousins) as one plain function.

:func:`compute` turns one machine's state intervals, its opening calendar and its part counts
over a period into CWork's times and rates (the shape of ``/stations/{id}/kpi``). It knows
nothing of databases, HTTP or the simulator, so the dashboard's KPI engine and the simulator's
``/kpi`` answer with the same arithmetic.

Times, a cascade (each one is a part of the one above); all in seconds:

======  ======================================  =====================================  =========
CWork   NF E60-182 (French)                     English                                Here
======  ======================================  =====================================  =========
AT      tT, temps total                         all time, calendar time (24/7)         ``at``
OT      tO, temps d'ouverture                   opening time (shift calendar)          ``ot``
PPT     tR, temps requis                        planned production time                ``ppt``
RT      tF, temps de fonctionnement             run time (any speed, good or bad)      ``rt``
NRT     tN, temps net                           net run time: parts made × tCR         ``nrt``
FPT     tU, temps utile                         fully productive time: good × tCR      ``fpt``
FT      temps de panne                          failure time                           ``ft``
MTBF    temps moyen entre les pannes            mean time between failures             ``mtbf``
MTTR    temps moyen de dépannage                mean time to repair                    ``mttr``
======  ======================================  =====================================  =========

Rates (fractions: 0.85 is 85 %):

====================  ======================================  ===============================
CWork                 NF E60-182 (French)                     Formula (English name)
====================  ======================================  ===============================
Involvement           TS, taux stratégique d'engagement       OT / AT (strategic engagement)
Load                  TC, taux de charge                      PPT / OT (load rate)
Requisition           taux de réquisition                     PPT / AT (requisition rate)
Availability          DO, disponibilité opérationnelle        RT / PPT (operational avail.)
Performance           TP, taux de performance                 NRT / RT (performance rate)
Quality               TQ, taux de qualité                     FPT / NRT (quality rate)
OEE                   TRS, taux de rendement synthétique      FPT / PPT = DO × TP × TQ
GEE                   TRG, taux de rendement global           FPT / OT = TRS × TC
TEEP                  TRE, taux de rendement économique       FPT / AT = TRS × TC × TS
HardwareAvailability  taux de disponibilité matérielle        RT / (RT + FT)
====================  ======================================  ===============================

Choices the norm leaves open, and what this module does (each one is repeated beside its code):

- **Closure** is not a bucket: it is whatever lies outside the opening intervals. State
  intervals (or parts of them) outside opening time are ignored: the norm measures inside tO.
- **Open time no interval covers** counts as required time without production (PPT − RT): an
  unknown state is treated as a stop, never as production, so gaps lower availability instead
  of flattering it. A machine with no state data at all in its opening time gets a blank
  availability (and hardware availability), not 0 %, and so does a total that includes it
  (like a blank tU, see below).
- **Overlapping state intervals** (one machine has one state at a time) are resolved in favour
  of the interval that started first; the later one begins where the earlier one ends.
- **Micro-stops**: by default (``micro_stop_threshold=0``) every stop counts as a stop, as the
  norm says (they lower availability). With a threshold > 0, own or induced stops shorter than
  it count as run time; since no parts come out of them they lower performance instead, which
  is what many OEE tools do. The length compared is the whole interval's, not the part inside
  the period, so a long stop cut by the period edge is not taken for a micro-stop. Failures are
  never micro-stops: a breakdown is counted in MTBF/MTTR however short.
- **Breaks and preventive maintenance** are outside tR in the norm (they lower GEE, not OEE).
  Preventive maintenance is whatever state the caller maps to ``DISENGAGED``. Breaks come
  either from such a state or from the calendar (``breaks``): calendar break time is
  disengaged whatever state the machine shows, unless it produced (a machine that runs
  through the break has run time, and its tR grows by that much). A shop that counts breaks
  inside tR passes no ``breaks`` and maps its break state to a stop.
- **Performance above 100 %** (a pessimistic tCR) is kept, never clamped: it shows that the
  reference is wrong, and hiding it would hide that.
- **Several references** in a period: tN = Σ parts × tCR and tU = Σ good × tCR over references.
- **Failures** (for MTBF/MTTR): failure intervals that touch or overlap are merged into one
  failure first (``Breakdown`` followed by its child ``Spindle failure`` is one failure). A
  failure is counted in the period where it starts, and only if some of it lies in opening
  time; a failure running into the period from before adds its time to FT but not to the count,
  so consecutive periods never count one failure twice. With zero failures MTBF and MTTR are
  blank (None), not zero and not infinite.
- **Hardware availability** is not defined by the norm; RT / (RT + FT) is used (the share of
  time the machine could run that it did not lose to failures), which equals
  MTBF / (MTBF + MTTR) when every failure starts inside the period.
- **Blank rather than zero**: a rate whose denominator is zero, or whose input is missing, is
  None. No reference counts means performance, quality and OEE are unknown, not 0 %. A
  reference without good-part count blanks tU (and quality, OEE, GEE, TEEP). A reference with
  parts but no usable tCR (≤ 0) blanks tN and tU.
- **Aggregating**: rates over several stations or periods come from summed times
  (:func:`combine`), never from averaging rates.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Bucket",
    "Interval",
    "Kpis",
    "ReferenceCount",
    "combine",
    "compute",
    "default_bucket",
    "from_times",
]


class Bucket(StrEnum):
    """Where a state's time goes in the cascade (closure is outside the opening intervals)."""

    DISENGAGED = "disengaged"  # inside tO, outside tR: breaks, preventive maintenance, no load
    FAILURE = "failure"  # own stop that is a breakdown: FT, MTBF, MTTR
    OWN_STOP = "own_stop"  # arrêt propre: setting, tool change, adjustments, controls
    INDUCED_STOP = "induced_stop"  # arrêt induit: no material, no operator, downstream full
    PRODUCTION = "production"  # tF


#: CWork's OEE categories (``OEECategory`` of a state).
CATEGORY_DISENGAGED = 1
CATEGORY_OWN_STOP = 2
CATEGORY_INDUCED_STOP = 3
CATEGORY_PRODUCTION = 4


def default_bucket(oee_category: int, *, is_failure: bool) -> Bucket:
    """The bucket of a CWork state from its OEE category.

    4 → production, 1 → disengaged, 3 → induced stop, 2 → own stop, or failure when the state
    is ``Breakdown`` or one of its children (``is_failure``; CWork has no failure category, its
    breakdowns share category 2 with setting). An unknown category is taken as an own stop: it
    stays inside required time and out of run time, so a misconfigured state lowers
    availability visibly instead of silently inflating it (production) or vanishing from the
    OEE (disengaged).
    """
    if oee_category == CATEGORY_PRODUCTION:
        return Bucket.PRODUCTION
    if oee_category == CATEGORY_DISENGAGED:
        return Bucket.DISENGAGED
    if oee_category == CATEGORY_INDUCED_STOP:
        return Bucket.INDUCED_STOP
    if oee_category == CATEGORY_OWN_STOP and is_failure:
        return Bucket.FAILURE
    return Bucket.OWN_STOP


@dataclass(frozen=True, slots=True)
class Interval:
    """One state of the machine from ``start`` to ``end`` (a top)."""

    start: datetime
    end: datetime
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class ReferenceCount:
    """Parts of one reference (or job) made in the period.

    ``cycle_time`` is the reference time per part, tCR, in seconds (a machine cycle making
    several parts at once counts cycle / parts per cycle). ``good_parts`` None means the good
    count is unknown.
    """

    parts_made: float  # whole parts, or seconds of CWork's tN counted as parts of one second
    good_parts: float | None
    cycle_time: float


@dataclass(frozen=True, slots=True)
class Kpis:
    """Times in seconds, rates as fractions; None is a blank (unknown or undefined)."""

    at: float
    ot: float
    ppt: float
    rt: float
    nrt: float | None
    fpt: float | None
    ft: float
    mtbf: float | None
    mttr: float | None
    failures: int
    teep: float | None
    gee: float | None
    oee: float | None
    availability: float | None
    performance: float | None
    quality: float | None
    requisition: float | None
    load: float | None
    involvement: float | None
    hardware_availability: float | None
    #: Opening time some state interval covers: 0 means no state data at all.
    covered: float | None = None
    #: Seconds of the period with no state data at all (before the stored history starts,
    #: or a hole in it): outside every time above, so it lowers no rate.
    no_data: float = 0.0

    def as_cwork(self) -> dict[str, dict[str, int | float | None]]:
        """The body of CWork's ``/stations/{id}/kpi``: times as whole seconds, rates 4 places."""

        def sec(value: float | None) -> int | None:
            return None if value is None else round(value)

        def rate(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "Times": {
                "AT": sec(self.at),
                "OT": sec(self.ot),
                "PPT": sec(self.ppt),
                "RT": sec(self.rt),
                "NRT": sec(self.nrt),
                "FPT": sec(self.fpt),
                "FT": sec(self.ft),
                "MTBF": sec(self.mtbf),
                "MTTR": sec(self.mttr),
            },
            "Rates": {
                "TEEP": rate(self.teep),
                "GEE": rate(self.gee),
                "OEE": rate(self.oee),
                "Performance": rate(self.performance),
                "Quality": rate(self.quality),
                "Availability": rate(self.availability),
                "Requisition": rate(self.requisition),
                "Load": rate(self.load),
                "Involvement": rate(self.involvement),
                "HardwareAvailability": rate(self.hardware_availability),
            },
        }


_STOPS = frozenset({Bucket.OWN_STOP, Bucket.INDUCED_STOP})


def compute(
    *,
    start: datetime,
    end: datetime,
    intervals: Iterable[Interval],
    opening: Iterable[tuple[datetime, datetime]],
    references: Iterable[ReferenceCount],
    micro_stop_threshold: float = 0,
    breaks: Iterable[tuple[datetime, datetime]] = (),
) -> Kpis:
    """The KPIs of one machine over ``[start, end)``.

    ``intervals`` are the machine's states (they may reach beyond the period: they are clipped),
    ``opening`` the opening intervals of its calendar (likewise clipped, overlaps merged),
    ``references`` the parts made in the period per reference, ``breaks`` the calendar's
    breaks (only their part inside opening counts). Datetimes must be all aware or all naive;
    aware ones are best all in UTC: Python subtracts two datetimes of one zone as wall-clock
    times, which is an hour off across a DST change. See the module docstring for the formulas
    and for every choice the norm leaves open.
    """
    if end < start:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts")
    if micro_stop_threshold < 0:
        raise ValueError("micro_stop_threshold must be zero or positive")

    def offset(moment: datetime) -> float:
        return (moment - start).total_seconds()

    at = offset(end)
    opens = _merge(
        (max(0.0, offset(s)), min(at, offset(e))) for s, e in opening if offset(e) > offset(s)
    )
    ot = sum(e - s for s, e in opens)
    open_ends = [e for _, e in opens]
    # Calendar breaks, as the part of them inside opening time.
    pauses: list[tuple[float, float]] = []
    for bs, be in _merge((max(0.0, offset(s)), min(at, offset(e))) for s, e in breaks):
        for os_, oe in opens:
            a, b = max(bs, os_), min(be, oe)
            if b > a:
                pauses.append((a, b))
    pause_ends = [e for _, e in pauses]
    paused = dict.fromkeys((Bucket.PRODUCTION, Bucket.DISENGAGED), 0.0)

    # State intervals in seconds from the period start, in order; the whole length of each is
    # kept for the micro-stop test (measured on the interval, not on its part in the period).
    raw = sorted(
        (offset(iv.start), offset(iv.end), iv.bucket) for iv in intervals if iv.end > iv.start
    )
    times = dict.fromkeys(Bucket, 0.0)
    failures: list[tuple[float, float, float]] = []  # (start, end, time in opening ∩ period)
    cursor = float("-inf")
    covered = 0.0
    for raw_start, e, raw_bucket in raw:
        bucket = raw_bucket
        # Micro-stops (norm: stops; threshold > 0: run time lost to performance).
        if micro_stop_threshold > 0 and bucket in _STOPS and e - raw_start < micro_stop_threshold:
            bucket = Bucket.PRODUCTION
        # Overlaps: the interval that started first wins.
        s = max(raw_start, cursor)
        if e <= s:
            continue
        cursor = e
        inside = _overlap(opens, open_ends, max(s, 0.0), min(e, at))
        in_break = _overlap(pauses, pause_ends, max(s, 0.0), min(e, at)) if pauses else 0.0
        if bucket in paused:
            paused[bucket] += in_break
        else:
            inside -= in_break  # a stop during a calendar break is the break
        times[bucket] += inside
        covered += inside + (in_break if bucket not in paused else 0.0)
        if bucket is Bucket.FAILURE:
            failures.append((s, e, inside))

    # Break time is disengaged, except where the machine produced or already was disengaged.
    break_time = sum(e - s for s, e in pauses)
    disengaged = times[Bucket.DISENGAGED] + max(
        0.0, break_time - paused[Bucket.PRODUCTION] - paused[Bucket.DISENGAGED]
    )
    ppt = max(0.0, ot - disengaged)
    rt = times[Bucket.PRODUCTION]
    ft = times[Bucket.FAILURE]
    failure_count = _count_failures(failures, at)

    nrt, fpt = _net_and_useful(references)
    return from_times(
        at=at,
        ot=ot,
        ppt=ppt,
        rt=rt,
        nrt=nrt,
        fpt=fpt,
        ft=ft,
        failures=failure_count,
        covered=covered,
    )


def combine(parts: Iterable[Kpis]) -> Kpis:
    """KPIs of several stations or periods together: times and failures summed, rates redone.

    A blank tN or tU in any part blanks the total (a partial sum would look like a real one);
    so does a part with no state data for the availability.
    """
    items = list(parts)
    if not items:
        return from_times(at=0.0, ot=0.0, ppt=0.0, rt=0.0, nrt=None, fpt=None, ft=0.0, failures=0)

    def total(values: Iterable[float | None]) -> float | None:
        acc = 0.0
        for value in values:
            if value is None:
                return None
            acc += value
        return acc

    return from_times(
        at=sum(k.at for k in items),
        ot=sum(k.ot for k in items),
        ppt=sum(k.ppt for k in items),
        rt=sum(k.rt for k in items),
        nrt=total(k.nrt for k in items),
        fpt=total(k.fpt for k in items),
        ft=sum(k.ft for k in items),
        failures=sum(k.failures for k in items),
        # One machine with no state data at all blanks the availability of the total too.
        covered=0.0
        if any(k.covered is not None and k.covered <= 0 and k.ot > 0 for k in items)
        else total(k.covered for k in items),
        no_data=sum(k.no_data for k in items),
    )


def from_times(
    *,
    at: float,
    ot: float,
    ppt: float,
    rt: float,
    nrt: float | None,
    fpt: float | None,
    ft: float,
    failures: int,
    covered: float | None = None,
    no_data: float = 0.0,
) -> Kpis:
    """Every rate from the times (how :func:`compute` and :func:`combine` end).

    ``covered`` is the opening time some state interval covers (None: not known, as for
    CWork's own figures); 0 blanks the rates that need the machine's states.
    """
    no_states = covered is not None and covered <= 0
    return Kpis(
        at=at,
        ot=ot,
        ppt=ppt,
        rt=rt,
        nrt=nrt,
        fpt=fpt,
        ft=ft,
        # MTBF: run time / failures; MTTR: failure time / failures; blank with no failure.
        mtbf=rt / failures if failures else None,
        mttr=ft / failures if failures else None,
        failures=failures,
        covered=covered,
        no_data=no_data,
        teep=_ratio(fpt, at),  # TRE = tU / tT
        gee=_ratio(fpt, ot),  # TRG = tU / tO
        oee=_ratio(fpt, ppt),  # TRS = tU / tR = DO × TP × TQ
        availability=None if no_states else _ratio(rt, ppt),  # DO = tF / tR
        performance=_ratio(nrt, rt),  # TP = tN / tF, may exceed 1: kept, not clamped
        quality=_ratio(fpt, nrt),  # TQ = tU / tN
        requisition=_ratio(ppt, at),  # tR / tT
        load=_ratio(ppt, ot),  # TC = tR / tO
        involvement=_ratio(ot, at),  # TS = tO / tT
        # Not in the norm: tF / (tF + FT).
        hardware_availability=None if no_states else _ratio(rt, rt + ft),
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _net_and_useful(references: Iterable[ReferenceCount]) -> tuple[float | None, float | None]:
    """tN = Σ parts × tCR and tU = Σ good × tCR; None when unknown (see the module notes)."""
    refs = list(references)
    if not refs:
        return None, None
    nrt: float | None = 0.0
    fpt: float | None = 0.0
    for ref in refs:
        if ref.parts_made < 0 or (ref.good_parts is not None and ref.good_parts < 0):
            raise ValueError(f"negative part count in {ref!r}")
        if ref.good_parts is not None and ref.good_parts > ref.parts_made:
            raise ValueError(f"more good parts than parts made in {ref!r}")
        if ref.cycle_time < 0:
            raise ValueError(f"negative reference cycle time in {ref!r}")
        if ref.parts_made == 0:
            continue  # nothing to value, whatever tCR says
        if ref.cycle_time == 0:
            nrt = fpt = None  # parts without a reference time cannot be valued
            continue
        if nrt is not None:
            nrt += ref.parts_made * ref.cycle_time
        if fpt is not None:
            fpt = None if ref.good_parts is None else fpt + ref.good_parts * ref.cycle_time
    if fpt is not None and any(ref.good_parts is None for ref in refs):
        fpt = None
    return nrt, fpt


def _merge(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, non-empty, non-overlapping spans (touching ones joined)."""
    merged: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _overlap(spans: list[tuple[float, float]], ends: list[float], s: float, e: float) -> float:
    """Length of [s, e) inside the sorted disjoint spans (``ends``: their ends, for bisect)."""
    if e <= s:
        return 0.0
    total = 0.0
    for i in range(bisect_right(ends, s), len(spans)):
        a, b = spans[i]
        if a >= e:
            break
        total += min(b, e) - max(a, s)
    return total


def _count_failures(failures: list[tuple[float, float, float]], at: float) -> int:
    """Failures after merging touching/overlapping ones, counted where they start."""
    count = 0
    group_start = group_end = 0.0
    group_inside = 0.0
    open_group = False
    for s, e, inside in failures:  # already in start order, no overlaps left
        if open_group and s <= group_end:
            group_end = max(group_end, e)
            group_inside += inside
            continue
        if open_group and 0 <= group_start < at and group_inside > 0:
            count += 1
        group_start, group_end, group_inside, open_group = s, e, inside, True
    if open_group and 0 <= group_start < at and group_inside > 0:
        count += 1
    return count
