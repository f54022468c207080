"""Stored state history as whole intervals per station, newest live state included.

One loader for the KPI engine, the timelines and the Paretos: a top still open lasts until
the next one starts, or until now; a state change the live poll has seen and the history sync
has not yet stored is added from the live status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery

from kpis.calendar import merge
from stations.models import LiveStatus, Station, Top


@dataclass(slots=True)
class StatePiece:
    start: datetime
    end: datetime
    state_cwork_id: int
    comment: str
    #: Still running now (its end is "now").
    ongoing: bool = False


def known_spans(
    pieces: Iterable[StatePiece], start: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, until) some state piece covers, merged and in order.

    The rest is time with no state data: before the station's first stored top (the history
    reaches back only so far) or a hole the history has not back-filled yet. The KPIs leave
    it out of every time, the review shows it as "no data": unknown is not a stop.
    """
    return merge((max(p.start, start), min(p.end, until)) for p in pieces)


def state_pieces(
    station_ids: Iterable[int], start: datetime, end: datetime, now: datetime
) -> dict[int, list[StatePiece]]:
    """Each station's intervals overlapping [start, min(end, now)), whole (not clipped), in
    order. Stations with no data get an empty list."""
    ids = list(station_ids)
    until = min(end, now)
    pieces: dict[int, list[StatePiece]] = {sid: [] for sid in ids}
    if until <= start or not ids:
        return pieces
    rows = _tops(ids, start, until)
    previous: StatePiece | None = None
    previous_station = None
    for station_id, s, e, state, comment in rows:
        if previous is not None and previous_station == station_id and previous.ongoing:
            previous.end, previous.ongoing = s, False  # an open top ends where the next starts
        piece = StatePiece(s, e or now, state, comment, ongoing=e is None)
        pieces[station_id].append(piece)
        previous, previous_station = piece, station_id

    lives = LiveStatus.objects.filter(
        station_id__in=ids, since__isnull=False, state_cwork_id__isnull=False
    ).values_list("station_id", "since", "state_cwork_id", "comment")
    for station_id, since, state, comment in lives:
        if since is None or state is None or since >= until:  # (the query leaves no None)
            continue
        mine = pieces[station_id]
        newest = mine[-1] if mine else None
        if newest is None or since > newest.start:
            # The history has not caught up with the live poll yet.
            if newest is not None and newest.end > since:
                newest.end, newest.ongoing = since, False
            mine.append(StatePiece(since, now, state, comment, ongoing=True))
    return pieces


_COLUMNS = ("station_id", "start", "end", "state_cwork_id", "comment")


def _tops(ids: list[int], start: datetime, until: datetime) -> Iterator[tuple]:
    """Tops overlapping [start, until), by station and start.

    Two index range reads rather than one scan: each station's last top that began before
    the period (by the (station, start) unique index), then the tops that begin inside it.
    Asking for "start < until and end > start" instead walks every older top, so a one-shift
    review would slow down as the history grows.
    """
    before = Top.objects.filter(station=OuterRef("pk"), start__lt=start).order_by("-start")
    heads = {
        (station_id, head)
        for station_id, head in Station.objects.filter(pk__in=ids)
        .annotate(head=Subquery(before.values("start")[:1]))
        .values_list("pk", "head")
        if head is not None
    }
    first: dict[int, tuple] = {}
    if heads:
        for row in Top.objects.filter(
            station_id__in=ids, start__in={head for _sid, head in heads}
        ).values_list(*_COLUMNS):
            if (row[0], row[1]) in heads and (row[2] is None or row[2] > start):
                first[row[0]] = row
    inside = (
        Top.objects.filter(station_id__in=ids, start__gte=start, start__lt=until)
        .order_by("station_id", "start")
        .values_list(*_COLUMNS)
    )
    current = None
    for row in inside.iterator(chunk_size=5000):
        if row[0] != current:
            current = row[0]
            head = first.pop(current, None)
            if head is not None:
                yield head
        yield row
    yield from sorted(first.values())  # stations with no top starting inside the period
