from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stations.jobs import run_job
from stations.models import LiveStatus, Station

pytestmark = pytest.mark.django_db


def test_first_poll_stores_every_station(client, sim, clock, published):
    result = run_job("live", client=client, now=clock(), publish=published.append)
    assert result.ok, result.reason
    assert LiveStatus.objects.count() == 12
    assert Station.objects.count() == 12
    assert len(published) == 1
    assert len(published[0].changes) == 12


def test_unchanged_cycle_writes_and_publishes_nothing(client, sim, clock, published):
    run_job("live", client=client, now=clock(), publish=published.append)
    with CaptureQueriesContext(connection) as queries:
        result = run_job("live", client=client, now=clock(), publish=published.append)
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert result.outcome.rows_written == 0
    assert len(published) == 1
    assert [w for w in writes if "poll" not in w] == []
