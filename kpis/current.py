"""The running shift's figures per station, for the wall's tiles and the station page.

Computing KPIs is too slow for a tile render, so a periodic refresh
(:func:`publish_current_shift`, every :data:`KPI_TILE_REFRESH` seconds) computes every
station's figures at once, keeps them in Django's cache under a new generation, and has the
tiles whose displayed values changed re-rendered through the live poll's publisher. Renders
only read the cache (:func:`cached_figures`).

Stations whose shifts run over the same span are computed together: one
:func:`kpis.engine.station_kpis` call per distinct (start, end), so the number of queries
depends on the calendars, not on the number of stations.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from core.formatting import local_time
from core.memo import Memo
from kpis.calendar import Calendars, Occurrence, previous_shift, shift_at
from kpis.engine import PESSIMISTIC, station_kpis
from kpis.forms import review_query
from kpis.jobs import CWORK_FIGURES
from kpis.models import PartCounting, PartTally
from stations.events import StationChange, StationsChanged
from stations.models import PollRecord, Station, SyncState

logger = logging.getLogger(__name__)

#: Seconds between two refreshes of the tiles' current-shift figures.
KPI_TILE_REFRESH = 60.0
#: The field a refresh's change event names for the stations it re-renders.
KPI_FIELD = "kpis"
#: The schedule's (and Celery's) name of the refresh.
TASK_NAME = "kpis.current_shift"

GENERATION_KEY = "kpis:current:generation"
#: Figures older than this many refreshes are dropped rather than shown: the refresh stopped.
KEEP_FOR_REFRESHES = 10


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    """One station's figures over its running shift, up to the refresh; None is blank."""

    shift_key: str
    shift_label: str
    start: datetime
    end: datetime
    oee: float | None
    availability: float | None
    performance: float | None
    quality: float | None
    #: Parts counted since the shift started; None when counting began after that.
    parts_made: int | None
    part_target: int | None
    #: Figure group → where it came from, in words (``StationKpis.sources``).
    sources: tuple[tuple[str, str], ...] = ()
    #: The shift review's query for this shift (its workshop, date and shift name).
    review_query: str = ""
    #: When CWork's figures are next fetched (what a blank figure may be waiting for).
    next_fetch: datetime | None = None

    @property
    def oee_percent(self) -> int | None:
        return _percent(self.oee)

    @property
    def availability_percent(self) -> int | None:
        return _percent(self.availability)

    @property
    def performance_percent(self) -> int | None:
        return _percent(self.performance)

    @property
    def quality_percent(self) -> int | None:
        return _percent(self.quality)

    @property
    def oee_over(self) -> bool:
        """Shown above 100 %: the reference cycle time is pessimistic (:data:`PESSIMISTIC`)."""
        return (self.oee_percent or 0) > 100

    @property
    def performance_over(self) -> bool:
        return (self.performance_percent or 0) > 100

    @property
    def over_note(self) -> str:
        """What a figure above 100 % says on hover (the review's words)."""
        return str(PESSIMISTIC)

    @property
    def reasons(self) -> dict[str, str]:
        """Figure → why it is blank (or where it came from), for titles."""
        src = dict(self.sources)
        states = " · ".join(v for k, v in src.items() if k in ("calendar", "states"))
        parts, quality = src.get("parts", ""), src.get("quality", "")
        when = local_time(self.next_fetch)
        if self.performance is None:  # no net time: neither counted parts nor CWork's
            parts = _("%(parts)s: waiting for CWork's figures for this shift") % {"parts": parts}
            if when:
                parts += ", " + _("next fetch at %(time)s") % {"time": when}
        if self.quality is None:  # CWork's rate, or the net time it applies to, is missing
            quality = _("waiting for CWork's quality figures")
            if when:
                quality += ", " + _("next fetch at %(time)s") % {"time": when}
        return {
            "availability": states,
            "performance": parts,
            "quality": quality,
            "oee": " · ".join(dict.fromkeys(v for v in (parts, quality) if v)),
        }

    def displayed(self) -> tuple[object, ...]:
        """What a tile shows of it: a refresh re-renders a tile only when this changes."""
        return (self.shift_key, self.oee_percent, self.availability_percent, self.parts_made)


def _percent(rate: float | None) -> int | None:
    return None if rate is None else round(rate * 100)


def current_shift_figures(
    stations: Sequence[Station], *, now: datetime, calendars: Calendars | None = None
) -> dict[int, ShiftFigures]:
    """Each station's figures over its running shift, up to ``now``; a station whose
    workshop is closed at ``now`` gets none."""
    calendars = calendars or Calendars()
    groups: dict[tuple[datetime, datetime], list[tuple[Station, Occurrence]]] = defaultdict(list)
    configured: dict[int, bool] = {}
    for station in stations:
        spec = calendars.for_workshop(station.workshop)
        occ = shift_at(spec, now)
        if occ is not None:
            groups[(occ.start, occ.end)].append((station, occ))
            configured[station.pk] = spec.configured
    if not groups:
        return {}
    ids = [station.pk for members in groups.values() for station, _occ in members]
    made = _parts_made(ids, min(start for start, _end in groups), now)
    counting = dict(PartCounting.objects.filter(station_id__in=ids).values_list("station", "since"))

    next_fetch = next_cwork_fetch(now)
    out: dict[int, ShiftFigures] = {}
    for (start, end), members in groups.items():
        report = station_kpis(
            [station for station, _occ in members], start, end, now=now, calendars=calendars
        )
        for row, (station, occ) in zip(report.rows, members, strict=True):
            since = counting.get(station.pk)
            known = since is not None and since <= start
            live = getattr(station, "live", None)
            kpis = row.kpis
            out[station.pk] = ShiftFigures(
                shift_key=occ.key,
                shift_label=occ.label(),
                start=start,
                end=end,
                oee=kpis.oee,
                availability=kpis.availability,
                performance=kpis.performance,
                quality=kpis.quality,
                parts_made=sum(p for s, p in made.get(station.pk, ()) if s >= start)
                if known
                else None,
                part_target=(live.part_target or None) if live is not None else None,
                sources=tuple(row.sources.items()),
                review_query=review_query(
                    workshop=station.workshop,
                    day=occ.day,
                    shift=occ.name if configured[station.pk] else None,
                ),
                next_fetch=next_fetch,
            )
    return out


def next_cwork_fetch(now: datetime) -> datetime | None:
    """When the KPI job next asks CWork for its figures: its runs keep a fixed cadence from
    its last one, and a run backing off after a failure waits for the first tick after its
    retry time. None before its first run."""
    last = PollRecord.objects.filter(kind=CWORK_FIGURES).order_by("-started_at").first()
    if last is None:
        return None
    state = SyncState.objects.filter(kind=CWORK_FIGURES).first()
    due = max(now, state.retry_at) if state and state.retry_at else now
    interval = settings.KPI_SYNC_INTERVAL
    ticks = max(1, -int(-(due - last.started_at).total_seconds() // interval))
    return last.started_at + timedelta(seconds=ticks * interval)


def _parts_made(
    ids: list[int], since: datetime, now: datetime
) -> dict[int, list[tuple[datetime, int]]]:
    """Parts per station and quarter hour from ``since`` to ``now``, in one query."""
    out: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    rows = (
        PartTally.objects.filter(station_id__in=ids, slot__gte=since, slot__lte=now)
        .values_list("station_id", "slot")
        .annotate(parts=Sum("parts"))
        .order_by()
    )
    for station_id, slot, parts in rows:
        out[station_id].append((slot, parts or 0))
    return out


# ----------------------------------------------------------------------------------------
# The cache the tiles read
# ----------------------------------------------------------------------------------------


def _data_key(generation: int) -> str:
    return f"kpis:current:figures:{generation}"


def current_generation() -> int | None:
    """Bumped by every refresh: what a cached rendering of tiles depends on."""
    return cache.get(GENERATION_KEY)


#: The figures of the cache's generation: read from the cache once per generation.
_figures: Memo[dict[int, ShiftFigures] | None] = Memo("kpis.current.figures")


def cached_figures() -> dict[int, ShiftFigures] | None:
    """The last refresh's figures, by station id; None when there are none (no refresh yet,
    or the refresh stopped long ago)."""
    generation = current_generation()
    if generation is None:
        return None
    return _figures.get(lambda: cache.get(_data_key(generation)), key=generation)


def refresh_current_shift_figures(now: datetime | None = None) -> set[int]:
    """Recompute every present station's figures and store them under a new generation;
    returns the ids of the stations whose displayed values changed."""
    now = now or timezone.now()
    stations = list(
        Station.objects.filter(present_in_cwork=True)
        .select_related("live")
        .only("pk", "workshop", "live__part_target")
        .order_by()
    )
    if not stations:
        return set()  # a fresh start before the first catalogue sync: nothing to store yet
    figures = current_shift_figures(stations, now=now)
    previous = cached_figures() or {}
    generation = (current_generation() or 0) + 1
    cache.set(_data_key(generation), figures, timeout=KPI_TILE_REFRESH * KEEP_FOR_REFRESHES)
    cache.set(GENERATION_KEY, generation, timeout=None)
    _figures.put(figures, key=generation)
    return _changed(previous, figures)


def _changed(before: dict[int, ShiftFigures], after: dict[int, ShiftFigures]) -> set[int]:
    changed = set()
    for station_id in before.keys() | after.keys():
        old, new = before.get(station_id), after.get(station_id)
        if old is None or new is None or old.displayed() != new.displayed():
            changed.add(station_id)
    return changed


def publish_current_shift(
    now: datetime | None = None,
    publish: Callable[[StationsChanged], None] | None = None,
) -> set[int]:
    """The periodic entry: refresh, then have the changed stations' tiles re-rendered on
    every wall, through the live poll's own publisher."""
    now = now or timezone.now()
    changed = refresh_current_shift_figures(now)
    if changed:
        publish = publish or import_string(settings.LIVE_PUBLISHER)
        publish(changes_event(changed, now))
    return changed


def changes_event(station_ids: Iterable[int], now: datetime) -> StationsChanged:
    cwork_ids = dict(Station.objects.filter(pk__in=list(station_ids)).values_list("pk", "cwork_id"))
    return StationsChanged(
        at=now,
        changes=tuple(
            StationChange(pk, cwork_id, (KPI_FIELD,)) for pk, cwork_id in sorted(cwork_ids.items())
        ),
    )


def figures_for(station: Station, now: datetime) -> ShiftFigures | None:
    """One station's figures for a page: the cached ones, or computed now when no refresh
    has run yet. None when its workshop is closed."""
    figures = cached_figures()
    if figures is None:
        figures = current_shift_figures([station], now=now)
    found = figures.get(station.pk)
    if found is None:  # closed, or new since the last refresh: cheap to ask for one station
        found = current_shift_figures([station], now=now).get(station.pk)
    return found if found is not None and found.end > now else None


def review_url(figures: ShiftFigures) -> str:
    """The shift review page for one station's running shift."""
    return f"{_review_page()}?{figures.review_query}"


def previous_shift_review(station: Station, now: datetime) -> tuple[str, str]:
    """The label and review link of the last shift the station's workshop finished; empty
    without a calendar."""
    spec = Calendars().for_workshop(station.workshop)
    occ = previous_shift(spec, now) if spec.configured else None
    if occ is None:
        return "", ""
    query = review_query(workshop=station.workshop, day=occ.day, shift=occ.name)
    return occ.label(), f"{_review_page()}?{query}"


def _review_page() -> str:
    try:
        return reverse("kpis:review")
    except NoReverseMatch:  # the review's URLs are not installed
        return "/kpis/review/"
