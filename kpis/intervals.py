"""Stored state history as whole intervals per station, newest live state included.

One loader for the KPI engine, the timelines and the Paretos: a top still open lasts until
the next one starts, or until now; a state change the live poll has seen and the history sync
has not yet stored is added from the live status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from stations.models import LiveStatus, Top


@dataclass(slots=True)
class StatePiece:
    start: datetime
    end: datetime
    state_cwork_id: int
    comment: str
    #: Still running now (its end is "now").
    ongoing: bool = False


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
    rows = (
        Top.objects.filter(station_id__in=ids, start__lt=until)
        .filter(Q(end__isnull=True) | Q(end__gt=start))
        .order_by("station_id", "start")
        .values_list("station_id", "start", "end", "state_cwork_id", "comment")
    )
    previous: StatePiece | None = None
    previous_station = None
    for station_id, s, e, state, comment in rows.iterator(chunk_size=5000):
        if previous is not None and previous_station == station_id and previous.ongoing:
            previous.end, previous.ongoing = s, False  # an open top ends where the next starts
        piece = StatePiece(s, e or now, state, comment, ongoing=e is None)
        pieces[station_id].append(piece)
        previous, previous_station = piece, station_id

    lives = LiveStatus.objects.filter(
        station_id__in=ids, since__isnull=False, state_cwork_id__isnull=False
    ).values_list("station_id", "since", "state_cwork_id", "comment")
    for station_id, since, state, comment in lives:
        if since >= until:
            continue
        mine = pieces[station_id]
        newest = mine[-1] if mine else None
        if newest is None or since > newest.start:
            # The history has not caught up with the live poll yet.
            if newest is not None and newest.end > since:
                newest.end, newest.ongoing = since, False
            mine.append(StatePiece(since, now, state, comment, ongoing=True))
    return pieces
