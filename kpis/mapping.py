"""Which bucket of the norm's cascade each CWork state's time goes to."""

from __future__ import annotations

from cwork.oee import Bucket, default_bucket
from stations.models import State
from stations.station_selectors import failure_state_ids


def state_buckets() -> dict[int, Bucket]:
    """CWork state id → bucket: the shop's mapping where it has one, else the default from
    the state's OEE category (Breakdown and its children are failures)."""
    from kpis.models import StateBucket

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
