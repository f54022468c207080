"""Which bucket of the norm's cascade each CWork state's time goes to, and the mark (icon or
pattern, with its name) that says it without colour."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models.signals import post_delete, post_save
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from core.memo import Memo
from cwork.oee import Bucket, default_bucket
from kpis.models import StateBucket
from stations.models import State

#: CWork's built-in "Breakdown" state (handle 1 in every installation, whatever its name in
#: the installation's language). CWork has no failure category: breakdowns share category 2
#: with setting, so a failure is this state or one of its children (``cwork.oee``'s rule).
BREAKDOWN_CWORK_ID = 1

#: The mark of a station or stretch without a known state (no state yet, not reporting,
#: no data): never one of the buckets, so it is never mistaken for one.
NO_STATE = "none"

#: Each bucket's name as the marks say it to screen readers (and on hover).
MARK_LABELS: dict[str, Promise] = {
    Bucket.PRODUCTION.value: pgettext_lazy("OEE category", "Production"),
    Bucket.OWN_STOP.value: pgettext_lazy("OEE category", "Own stop"),
    Bucket.FAILURE.value: pgettext_lazy("OEE category", "Breakdown"),
    Bucket.INDUCED_STOP.value: pgettext_lazy("OEE category", "Induced stop"),
    Bucket.DISENGAGED.value: pgettext_lazy("OEE category", "Disengaged"),
    NO_STATE: pgettext_lazy("OEE category", "No state"),
}
NOT_REPORTING_LABEL = pgettext_lazy("OEE category", "Not reporting")
NO_DATA_LABEL = pgettext_lazy("OEE category", "No data")


def state_buckets() -> dict[int, Bucket]:
    """CWork state id → bucket: the shop's mapping where it has one, else the default from
    the state's OEE category (Breakdown and its children are failures).

    THE rule of where a state's time goes: the KPIs, the timelines, the alerts, the tiles, the
    overview's and the station page's severity all read it (through this or its cached copy).
    """
    return _load()


def failure_state_ids(states: Iterable[State]) -> set[int]:
    """Primary keys of the failure states: CWork's Breakdown and its descendants."""
    by_id = {s.pk: s for s in states}
    failures = set()
    for state in by_id.values():
        seen: set[int] = set()
        current: State | None = state
        while current is not None and current.pk not in seen:
            if current.cwork_id == BREAKDOWN_CWORK_ID:
                failures.add(state.pk)
                break
            seen.add(current.pk)
            current = by_id.get(current.parent_id) if current.parent_id else None
    return failures


def _load() -> dict[int, Bucket]:
    """Every known state's bucket, by CWork id."""
    states = list(State.objects.all())
    failures = failure_state_ids(states)
    buckets = {
        s.cwork_id: default_bucket(s.oee_category or 0, is_failure=s.pk in failures) for s in states
    }
    for cwork_id, bucket in StateBucket.objects.values_list("state_cwork_id", "bucket"):
        buckets[cwork_id] = Bucket(bucket)
    return buckets


def bucket_of(buckets: dict[int, Bucket], state_cwork_id: int | None) -> Bucket:
    """A state the catalogue does not know yet is an own stop (see ``default_bucket``)."""
    if state_cwork_id is None:
        return Bucket.OWN_STOP
    return buckets.get(state_cwork_id, Bucket.OWN_STOP)


# ----------------------------------------------------------------------------------------
# The mapping, read once per process and kept
# ----------------------------------------------------------------------------------------

#: How long a process trusts its copy of the mapping (seconds).
CACHE_SECONDS = 30.0
#: A state missing from the copy reloads it, at most this often (seconds).
MISS_RELOAD_SECONDS = 1.0


#: The mapping, as :func:`_load` reads it.
_mapping: Memo[dict[int, Bucket]] = Memo("kpis.mapping.state_buckets")


def cached_state_buckets(*, missing: int | None = None) -> dict[int, Bucket]:
    """:func:`state_buckets`, read at most once per :data:`CACHE_SECONDS` in a process.

    The wall draws up to 2,000 tiles a snapshot and each needs its state's bucket: they
    share this copy instead of a query each. The copy is dropped at once when this process
    saves or deletes a state or a shop mapping (signals below: the admin's edits). The
    catalogue sync writes states in bulk (no signals) and other processes edit mappings, so
    the copy also expires after :data:`CACHE_SECONDS`; and a state it does not know yet
    (``missing``: just synced) reloads it, at most once per :data:`MISS_RELOAD_SECONDS`, so a
    new state is not shown as an own stop for half a minute.
    """
    buckets = _mapping.get(_load, max_age=CACHE_SECONDS)
    if missing is not None and missing not in buckets:
        buckets = _mapping.get(_load, max_age=MISS_RELOAD_SECONDS)
    return buckets


def forget_state_buckets(**_kwargs: object) -> None:
    """The next :func:`cached_state_buckets` reads the mapping again."""
    _mapping.clear()


def cached_bucket_of(state_cwork_id: int | None) -> Bucket:
    """The bucket of one state, from the process's copy of the mapping."""
    return bucket_of(cached_state_buckets(missing=state_cwork_id), state_cwork_id)


def mark_label(mark: str) -> Promise:
    """The translated name of a mark (a bucket's value or :data:`NO_STATE`)."""
    return MARK_LABELS.get(mark, MARK_LABELS[NO_STATE])


for _name, _signal in (("saved", post_save), ("deleted", post_delete)):
    _signal.connect(forget_state_buckets, sender=State, dispatch_uid=f"buckets-state-{_name}")
    _signal.connect(
        forget_state_buckets, sender="kpis.StateBucket", dispatch_uid=f"buckets-map-{_name}"
    )
