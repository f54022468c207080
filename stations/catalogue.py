"""Stations and state definitions: synced every few minutes and whenever an unknown id shows."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cwork.client import CWorkClient
from stations.models import State, Station
from stations.run_report import RunReport
from stations.upsert import upsert_by_cwork_id


def sync_catalogue(client: CWorkClient, *, now: datetime | None = None) -> RunReport:
    now = now or timezone.now()
    stations = client.stations()
    states = client.states()
    outcome = RunReport(stations_seen=len(stations))
    outcome.problems += [f"station record {r.index}: {r.reason}" for r in stations.rejected]
    outcome.problems += [f"state record {r.index}: {r.reason}" for r in states.rejected]
    state_records = {
        s.handle: {
            "name": s.name,
            "color": s.color or "",
            "oee_category": s.oee_category,
            "close_day": s.close_day,
            "prod_percent": s.prod_percent,
            "use_percent": s.use_percent,
        }
        for s in states
    }
    # CWork's state list carries no archived flag (a refusal with code 2006 or an
    # administrator sets ours): only a list that does carry it for every state overrides it.
    if states and all("Archived" in s.extra for s in states):
        for s in states:
            state_records[s.handle]["archived"] = bool(s.extra["Archived"])
    station_records = {
        s.handle: {
            "name": s.name,
            "description": s.description,
            "workshop": s.workshop,
            "dnc_group": s.dnc_group,
            "mdc_groups": list(s.mdc_groups),
            "disabled": s.disabled,
            "dnc_mode": s.dnc_mode,
            "mdc_mode": s.mdc_mode,
        }
        for s in stations
    }
    # A rejected record hides its id: nothing is marked gone from CWork on a partial answer.
    with transaction.atomic():
        written, dropped = upsert_by_cwork_id(
            State, state_records, now=now, scope=None if not states.rejected else ()
        )
        outcome.changes.update(states=written, states_dropped=dropped)
        outcome.rows_written += written + dropped + _link_parents(states)
        written, dropped = upsert_by_cwork_id(
            Station, station_records, now=now, scope=None if not stations.rejected else ()
        )
        outcome.changes.update(stations=written, stations_dropped=dropped)
        outcome.rows_written += written + dropped
    outcome.changes = +outcome.changes  # keep only what happened
    outcome.stations_changed = outcome.changes["stations"] + outcome.changes["stations_dropped"]
    return outcome


def _link_parents(states: list) -> int:
    ids = dict(State.objects.values_list("cwork_id", "id"))
    current = dict(State.objects.values_list("id", "parent_id"))
    stale = []
    for s in states:
        parent = ids.get(s.parent_handle) if s.parent_handle else None
        if current.get(ids[s.handle]) != parent:
            stale.append(State(id=ids[s.handle], parent_id=parent))
    State.objects.bulk_update(stale, ["parent"])
    return len(stale)
