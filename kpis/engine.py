"""The KPIs of stations over a period, from the stored history: the norm's arithmetic is
:func:`cwork.oee.compute`; this module gathers its inputs and says where each came from.

Inputs, per station
    - **State intervals**: the stored tops (and the live state the history sync has not
      stored yet), each state mapped to a bucket (:mod:`kpis.mapping`). An open top counts up
      to now; the period is cut at now.
    - **Opening and breaks**: the station's workshop calendar (:mod:`kpis.calendar`); a shop
      with none configured is taken as open 24/7, and the figures say so.
    - **Parts made** (for tN): the live poll's quarter-hour tallies, each part valued at its
      job's reference time per part. A quarter hour cut by the period's edge counts pro rata.
      Before the dashboard started counting a station, its parts are unknown; tN then comes
      from CWork's own figures when they cover the period shift by shift, or stays blank.
    - **Quality** (for tU): CWork's API gives no good-part counts, so the quality rate is
      CWork's own (``/kpi``) over the shifts the period overlaps: tU = tN × TQ. Without it, tU
      and everything built on it (quality, OEE, GEE, TEEP) are blank.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.formatting import format_duration, local_moment
from cwork import oee
from kpis.calendar import Calendars, CalendarSpec, clip_all, occurrences, opening, subtract
from kpis.intervals import StatePiece, known_spans, state_pieces
from kpis.mapping import bucket_of, state_buckets
from kpis.models import CWorkFigures, PartCounting, PartTally
from stations.models import Station

SLOT = timedelta(minutes=15)

#: The figures compared with CWork's, with how each is compared.
TIME_FIGURES = ("ot", "ppt", "rt", "nrt", "fpt", "ft")
RATE_FIGURES = ("availability", "performance", "quality", "oee")

#: Why a performance above 100 % (and an OEE above 100 % with it) is no error: the job's
#: reference cycle time is longer than the machine's real one. The review, the wall's tiles
#: and the station page say it with these words.
PESSIMISTIC = gettext_lazy("reference cycle time may be pessimistic")


@dataclass(frozen=True, slots=True)
class Difference:
    figure: str
    ours: float | None
    cwork: float | None
    #: Rates: in points (0.03 = 3 points); times: in seconds.
    delta: float | None
    is_rate: bool


@dataclass(slots=True)
class StationKpis:
    station: Station
    kpis: oee.Kpis
    #: Figure group → where it came from, in words ("tops", "calendar", "parts", "quality").
    sources: dict[str, str] = field(default_factory=dict)
    #: CWork's own figures for the same shifts, when they cover the period.
    cwork: oee.Kpis | None = None
    differences: list[Difference] = field(default_factory=list)


@dataclass(slots=True)
class KpiReport:
    start: datetime
    end: datetime
    #: The period is cut here (now, for a period still running).
    until: datetime
    rows: list[StationKpis]
    total: oee.Kpis
    total_cwork: oee.Kpis | None
    total_differences: list[Difference]


def station_kpis(
    stations: Sequence[Station],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    calendars: Calendars | None = None,
    pieces: dict[int, list[StatePiece]] | None = None,
) -> KpiReport:
    """Every station's KPIs over [start, end) (cut at now), and their total from summed
    times. A fixed number of queries whatever the number of stations; ``pieces`` are the
    stations' states over the period when the caller has them already."""
    now = now or timezone.now()
    until = max(start, min(end, now))
    calendars = calendars or Calendars()
    buckets = state_buckets()
    ids = [s.pk for s in stations]
    if pieces is None:
        pieces = state_pieces(ids, start, until, now)
    tallies = _tallies(ids, start, until)
    counting = dict(PartCounting.objects.filter(station_id__in=ids).values_list("station", "since"))
    figures = _cwork_figures(ids, start, until)
    threshold = float(settings.KPI_MICRO_STOP_SECONDS)
    breaks_in_required = settings.KPI_BREAKS_IN_REQUIRED_TIME

    rows = []
    for station in stations:
        spec = calendars.for_workshop(station.workshop)
        rows.append(
            _one(
                station,
                spec,
                start,
                end,
                until,
                pieces[station.pk],
                tallies.get(station.pk, {}),
                counting.get(station.pk),
                figures.get(station.pk, []),
                buckets,
                threshold=threshold,
                breaks_in_required=breaks_in_required,
            )
        )
    total = oee.combine(r.kpis for r in rows)
    cworks = [r.cwork for r in rows if r.cwork is not None]
    total_cwork = oee.combine(cworks) if rows and len(cworks) == len(rows) else None
    return KpiReport(
        start=start,
        end=end,
        until=until,
        rows=rows,
        total=total,
        total_cwork=total_cwork,
        total_differences=differences(total, total_cwork),
    )


def _one(
    station: Station,
    spec: CalendarSpec,
    start: datetime,
    end: datetime,
    until: datetime,
    pieces: list[StatePiece],
    tallies: dict[float | None, float],
    counting_since: datetime | None,
    figures: list[CWorkFigures],
    buckets: dict[int, oee.Bucket],
    *,
    threshold: float,
    breaks_in_required: bool,
) -> StationKpis:
    sources: dict[str, str] = {}
    opens, pauses = opening(spec, start, until)
    sources["calendar"] = (
        _("calendar “%(name)s”") % {"name": spec.name}
        if spec.configured
        else _("no calendar configured: open 24/7")
    )
    if breaks_in_required:
        pauses = []
    # Time with no state data is left out of every time (tT included): the rates are those of
    # the time the history covers, and the gap is reported on its own as "no data".
    known = known_spans(pieces, start, until)
    no_data = (until - start).total_seconds() - sum((e - s).total_seconds() for s, e in known)
    if no_data > 0:
        opens, pauses = list(clip_all(opens, known)), list(clip_all(pauses, known))
        sources["no_data"] = _(
            "no state data for %(duration)s of the period (%(spans)s): left out of every time"
        ) % {
            "duration": format_duration(no_data),
            "spans": ", ".join(
                f"{local_moment(s)} – {local_moment(e)}"
                for s, e in subtract([(start, until)], known)
            ),
        }
    intervals = [oee.Interval(p.start, p.end, bucket_of(buckets, p.state_cwork_id)) for p in pieces]
    sources["states"] = (
        _("%(count)s state intervals from CWork") % {"count": len(pieces)}
        if pieces
        else _("no state history for this period")
    )

    # CWork's own figures, when they tile the period shift by shift.
    cwork, cwork_until = _tiled(figures, spec, start, end, until)
    # CWork's figures of a running shift lag by up to one refresh: compared only when they
    # reach the end of the period, or a few minutes' difference would look like a disagreement.
    comparable = cwork if cwork is not None and cwork_until >= until - EXACT else None
    if cwork is None:
        sources["crosscheck"] = _("CWork's figures do not cover this period shift by shift")
    elif comparable is None:
        sources["crosscheck"] = _(
            "CWork's figures reach %(when)s: compared once the period is over"
        ) % {"when": local_moment(cwork_until)}
    else:
        sources["crosscheck"] = _("compared with CWork's figures for the same shifts")

    nrt_refs: list[tuple[float, float | None]] = [(p, tcr) for tcr, p in tallies.items()]
    parts_known = counting_since is not None and counting_since <= start
    quality = _quality(figures)
    references: list[oee.ReferenceCount] = []
    if parts_known:
        made = sum(p for p, _tcr in nrt_refs)
        sources["parts"] = _("%(parts)s parts counted by the dashboard") % {"parts": round(made)}
        for parts, tcr in nrt_refs:
            good = None if quality is None else parts * quality
            references.append(oee.ReferenceCount(parts, good, tcr or 0.0))
        if not references:
            references.append(oee.ReferenceCount(0, 0 if quality is not None else None, 1.0))
        if any(tcr is None for _p, tcr in nrt_refs if _p):
            sources["parts"] += " " + _("(some without a reference cycle time)")
    elif cwork is not None and cwork.nrt is not None:
        # CWork's tN and tU as "parts" of one second each.
        references.append(oee.ReferenceCount(cwork.nrt, cwork.fpt, 1.0))
        sources["parts"] = _(
            "CWork's net time up to %(when)s (parts were not counted here for all the period)"
        ) % {"when": local_moment(cwork_until)}
    else:
        sources["parts"] = (
            _("parts counted only since %(when)s") % {"when": local_moment(counting_since)}
            if counting_since
            else _("parts not counted yet")
        )
    sources["quality"] = (
        _("CWork's quality rate over %(count)s shifts") % {"count": len(figures)}
        if quality is not None
        else _("CWork has not given a quality rate for this period")
    )

    kpis = oee.compute(
        start=start,
        end=until,
        intervals=intervals,
        opening=opens,
        breaks=pauses,
        references=references,
        micro_stop_threshold=threshold,
    )
    if no_data > 0:
        kpis = oee.from_times(
            at=max(0.0, kpis.at - no_data),
            ot=kpis.ot,
            ppt=kpis.ppt,
            rt=kpis.rt,
            nrt=kpis.nrt,
            fpt=kpis.fpt,
            ft=kpis.ft,
            failures=kpis.failures,
            covered=kpis.covered,
            no_data=no_data,
        )
    return StationKpis(
        station=station,
        kpis=kpis,
        sources=sources,
        cwork=comparable,
        differences=differences(kpis, comparable),
    )


def differences(ours: oee.Kpis, cwork: oee.Kpis | None) -> list[Difference]:
    """Figures that differ from CWork's beyond the tolerance (``KPI_CROSSCHECK_*``)."""
    if cwork is None:
        return []
    out = []
    time_tolerance = float(settings.KPI_CROSSCHECK_SECONDS)
    rate_tolerance = float(settings.KPI_CROSSCHECK_POINTS) / 100
    compared = [(name, False, time_tolerance) for name in TIME_FIGURES]
    compared += [(name, True, rate_tolerance) for name in RATE_FIGURES]
    for name, is_rate, tolerance in compared:
        a, b = getattr(ours, name), getattr(cwork, name)
        if a is None and b is None:
            continue
        delta = None if a is None or b is None else a - b
        if delta is None or abs(delta) > tolerance:
            out.append(Difference(name, a, b, delta, is_rate=is_rate))
    return out


def _tallies(
    ids: list[int], start: datetime, until: datetime
) -> dict[int, dict[float | None, float]]:
    """Parts per station and reference time per part, quarter hours cut at the edges pro
    rata."""
    out: dict[int, dict[float | None, float]] = defaultdict(lambda: defaultdict(float))
    rows = PartTally.objects.filter(
        station_id__in=ids, slot__gt=start - SLOT, slot__lt=until
    ).values_list("station_id", "slot", "cycle_time", "parts")
    for station_id, slot, tcr, parts in rows.iterator(chunk_size=5000):
        inside = (min(slot + SLOT, until) - max(slot, start)) / SLOT
        if inside > 0:
            out[station_id][tcr] += parts * min(1.0, inside)
    return out


def _cwork_figures(ids: list[int], start: datetime, until: datetime) -> dict[int, list]:
    out: dict[int, list[CWorkFigures]] = defaultdict(list)
    for row in CWorkFigures.objects.filter(station_id__in=ids).overlapping(start, until):
        out[row.station_id].append(row)
    return out


def _quality(figures: Iterable[CWorkFigures]) -> float | None:
    """CWork's quality over the shifts, from summed times (tU / tN), not an average."""
    nrt = fpt = 0.0
    for row in figures:
        n, f = row.times.get("nrt"), row.times.get("fpt")
        if n is None or f is None:
            continue
        nrt += n
        fpt += f
    return fpt / nrt if nrt > 0 else None


def fresh_enough() -> timedelta:
    """How far behind the running shift CWork's figures may be and still be used: a fetch
    every ``KPI_SYNC_INTERVAL``, plus a fetch lost to a short outage and its back-off (two
    intervals, up to the next tick), plus one to spare; never under 15 minutes."""
    return max(timedelta(minutes=15), timedelta(seconds=4 * settings.KPI_SYNC_INTERVAL))


#: CWork answers in whole seconds.
EXACT = timedelta(seconds=1)


def _tiled(
    figures: list[CWorkFigures],
    spec: CalendarSpec,
    start: datetime,
    end: datetime,
    until: datetime,
) -> tuple[oee.Kpis | None, datetime]:
    """CWork's figures over [start, end) cut at ``until`` (now), when one row per shift of the
    period exists and no shift reaches outside the period: their times summed (AT as the
    period's own), and how far they reach."""
    shifts = occurrences(spec, start, until)
    lag = fresh_enough()  # CWork's figures are fetched every few minutes
    if not shifts or not figures or len(figures) != len(shifts):
        return None, start
    by_start = {row.start: row for row in figures}
    reach = until
    for occ in shifts:
        row = by_start.get(occ.start)
        if row is None or occ.start < start or occ.end > end:
            return None, start
        if min(occ.end, until) - row.until > lag:
            return None, start
        if row.until < min(occ.end, until):
            reach = min(reach, row.until)
    summed = oee.combine(_as_kpis(row) for row in figures)
    at = (until - start).total_seconds() - summed.at
    return oee.combine([summed, _zero_times(at=at)]), reach


def _as_kpis(row: CWorkFigures) -> oee.Kpis:
    """A stored ``/kpi`` answer as times (its failure count from FT / MTTR)."""
    t = row.times

    def num(name: str) -> float:
        return float(t.get(name) or 0)

    failures = round(num("ft") / num("mttr")) if num("mttr") > 0 else 0
    return oee.from_times(
        at=num("at"),
        ot=num("ot"),
        ppt=num("ppt"),
        rt=num("rt"),
        nrt=None if t.get("nrt") is None else num("nrt"),
        fpt=None if t.get("fpt") is None else num("fpt"),
        ft=num("ft"),
        failures=failures,
    )


def _zero_times(*, at: float) -> oee.Kpis:
    return oee.from_times(at=at, ot=0.0, ppt=0.0, rt=0.0, nrt=0.0, fpt=0.0, ft=0.0, failures=0)
