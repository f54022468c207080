"""The client reads whatever CWork sends: garbage, truncated or mutated bodies of the doc's
own examples, any status. It returns parsed models or raises a ``CWorkError``, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwork.client import CWorkClient
from cwork.errors import CWorkError
from tests.cwork.test_client_replay import KPI, STATES, STATION_STATUS, STATIONS, TOPS

START = datetime(2026, 11, 24, 5, tzinfo=UTC)
END = datetime(2026, 11, 24, 13, tzinfo=UTC)

CALLS = {
    "station_statuses": lambda c: c.station_statuses(fallback=False),
    "stations": lambda c: c.stations(),
    "states": lambda c: c.states(),
    "tops": lambda c: c.tops_page(1, START, END),
    "kpi": lambda c: c.station_kpi(1, START, END),
}
EXAMPLES = {
    "station_statuses": f"[{STATION_STATUS}]",
    "stations": STATIONS,
    "states": STATES,
    "tops": TOPS,
    "kpi": KPI,
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
statuses = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 409, 500, 503])
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "text/html", ""]
)


def call(name: str, status: int, body: bytes, content_type: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return httpx.Response(status, content=body, headers=headers)

    client = CWorkClient(
        "http://cwork.test",
        "k",
        server_version="1.16",
        transport=httpx.MockTransport(answer),
        retries=0,
        sleep=lambda seconds: None,
    )
    try:
        CALLS[name](client)
    except CWorkError:
        pass
    finally:
        client.close()


@FUZZ
@given(st.sampled_from(sorted(CALLS)), statuses, st.binary(max_size=300), content_types)
def test_arbitrary_bytes(name, status, body, content_type):
    call(name, status, body, content_type)


@FUZZ
@given(st.sampled_from(sorted(CALLS)), statuses, json_values)
def test_arbitrary_json(name, status, value):
    call(name, status, json.dumps(value).encode(), "application/json")


@FUZZ
@given(st.sampled_from(sorted(CALLS)), json_values, st.data())
def test_real_records_with_a_field_replaced(name, value, data):
    """The doc's example with one field of one record replaced by anything."""
    try:
        parsed = json.loads(EXAMPLES[name])
    except ValueError:
        parsed = None
    records = parsed if isinstance(parsed, list) else [parsed]
    records = [r for r in records if isinstance(r, dict)]
    if records:
        record = data.draw(st.sampled_from(records))
        key = data.draw(st.sampled_from(sorted(record)))
        record[key] = value
    call(name, 200, json.dumps(parsed).encode(), "application/json")


@FUZZ
@given(st.sampled_from(sorted(CALLS)), st.data())
def test_mutated_example_bodies(name, data):
    """The doc's raw example bytes with a few bytes deleted, inserted or replaced."""
    body = bytearray(EXAMPLES[name].encode())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, max(len(body) - 1, 0)))
        kind = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        byte = data.draw(st.sampled_from([*list(b'{}[]",:0-9.eE\\ \x00\xff'), ord("n")]))
        if kind == "delete" and body:
            del body[position]
        elif kind == "insert":
            body.insert(position, byte)
        elif kind == "replace" and body:
            body[position] = byte
        else:
            del body[position:]
    call(name, 200, bytes(body), "application/json")


def test_the_real_examples_still_parse():
    """The fuzzing starts from bodies the client does read (so it mutates something real)."""
    for name in ("stations", "states", "tops", "kpi"):
        call(name, 200, EXAMPLES[name].encode(), "application/json")
