from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cwork.simulator import ManualClock, Simulator
from stations.events import StationsChanged

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday morning, mid-shift


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    return Simulator(stations=12, seed=7, clock=clock, history_days=3)


@pytest.fixture
def client(sim: Simulator):
    with sim.client(retries=0) as client:
        yield client


class Published(list[StationsChanged]):
    """The events a run published, in order."""


@pytest.fixture
def published() -> Published:
    return Published()
