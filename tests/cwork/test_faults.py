"""FaultInjector: each fault through a real SimulatorServer, determinism, run-time control."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from cwork.errors import ERROR_CLASSES
from simulator.faults import MALFORMED_KINDS, FaultInjector, Faults
from simulator.http import SimRequest, SimResponse
from simulator.server import SimulatorServer

TOKEN = "let-me-in"
AUTH = {"X-Simulator-Token": TOKEN}
TIMEOUT = httpx.Timeout(5.0)
STATIONS = {"Stations": [{"Handle": i, "Name": f"Station {i}"} for i in range(1, 6)]}
STATIONS_BODY = json.dumps(STATIONS).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """Stands for the simulator's API layer."""

    def __init__(self) -> None:
        self.requests: list[SimRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.requests.append(request)
        if request.path == "/small":
            return SimResponse.json({"a": 1})
        if request.path == "/missing":
            return SimResponse.json({"ErrorCode": 2003, "Message": "nope"}, 404)
        if request.path == "/image":
            return SimResponse(200, b"\x89PNG....", content_type="image/png")
        if request.path.startswith("/_simulator/"):
            return SimResponse.json({"api-control": request.path})
        return SimResponse(200, STATIONS_BODY)


def get(injector: FaultInjector, path: str = "/stations", **headers: str) -> SimResponse:
    return injector(SimRequest("GET", path, headers={k.lower(): v for k, v in headers.items()}))


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def injector(api: Api, clock: Clock) -> FaultInjector:
    return FaultInjector(api, control_token=TOKEN, clock=clock)


@pytest.fixture
def server(injector: FaultInjector) -> Iterator[SimulatorServer]:
    with SimulatorServer(injector) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        yield http


# --- no faults -------------------------------------------------------------------------------


def test_no_faults_passes_through(client: httpx.Client, api: Api) -> None:
    response = client.get("/stations", params={"limit": "5"})
    assert response.status_code == 200
    assert response.json() == STATIONS
    assert api.requests[-1].query == {"limit": "5"}


# --- latency, jitter, hang ---------------------------------------------------------------------


def test_latency(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(latency=0.25)
    started = time.perf_counter()
    assert client.get("/stations").json() == STATIONS
    assert time.perf_counter() - started >= 0.25


def test_jitter_adds_up_to_its_value(injector: FaultInjector) -> None:
    injector.configure(latency=1.0, jitter=0.5)
    delays = [get(injector).delay for _ in range(200)]
    assert all(1.0 <= delay <= 1.5 for delay in delays)
    assert max(delays) - min(delays) > 0.4  # spread over the range


def test_hang_through_the_server(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(hang_rate=1, hang_seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/stations", timeout=0.15)
    injector.configure(hang_rate=0)
    assert client.get("/stations").status_code == 200


def test_hang_waits_and_then_answers(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(hang_rate=1, hang_seconds=0.3)
    started = time.perf_counter()
    assert client.get("/stations").json() == STATIONS
    assert time.perf_counter() - started >= 0.3


# --- injected CWork errors ---------------------------------------------------------------------


@pytest.mark.parametrize("code", list(ERROR_CLASSES))
def test_error_codes_map_to_their_http_status_and_body(
    client: httpx.Client, injector: FaultInjector, api: Api, code: int
) -> None:
    injector.configure(error_rate=1, error_codes=[code])
    response = client.get("/stations", headers={"Accept": "application/json+v1.9"})
    error = ERROR_CLASSES[code]
    assert response.status_code == error.http_status_default
    assert response.headers["content-type"].startswith("application/json")
    expected_message = error.default_message.replace("%s", "1.9")
    assert response.json() == {"ErrorCode": code, "Message": expected_message}
    assert api.requests == []  # an injected error answers in place of the API


def test_code_zero_is_a_bare_503(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(error_rate=1, error_codes=[0])
    response = client.get("/stations")
    assert response.status_code == 503
    assert response.text == "Service Unavailable"
    assert response.headers["content-type"].startswith("text/plain")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_error_codes_are_drawn_from_the_list(injector: FaultInjector) -> None:
    injector.configure(error_rate=1, error_codes=[1004, 2003, 0])
    statuses = Counter(get(injector).status for _ in range(300))
    assert set(statuses) == {400, 404, 503}
    assert all(count > 60 for count in statuses.values())


# --- malformed answers -------------------------------------------------------------------------


def test_malformed_truncated(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(malformed_rate=1, malformed_kinds=["truncated"])
    response = client.get("/stations")
    assert response.status_code == 200
    assert response.content == STATIONS_BODY[: len(STATIONS_BODY) // 2]
    assert response.headers["content-length"] == str(len(response.content))
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_malformed_garbage(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(malformed_rate=1, malformed_kinds=["garbage"])
    response = client.get("/stations")
    assert response.status_code == 200
    assert response.content
    assert response.content != STATIONS_BODY
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


def test_malformed_html(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(malformed_rate=1, malformed_kinds=["html"])
    response = client.get("/stations")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


def test_malformed_empty(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(malformed_rate=1, malformed_kinds=["empty"])
    response = client.get("/stations")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content == b""


@pytest.mark.parametrize("path", ["/missing", "/image"])
def test_only_successful_json_is_corrupted(
    client: httpx.Client, injector: FaultInjector, path: str
) -> None:
    clean = client.get(path)
    injector.configure(malformed_rate=1)
    assert client.get(path).content == clean.content


def test_malformed_kinds_are_drawn_from_the_list(injector: FaultInjector) -> None:
    injector.configure(malformed_rate=1)
    bodies = [get(injector) for _ in range(200)]
    kinds = Counter(
        "html"
        if response.content_type.startswith("text/html")
        else "empty"
        if not response.body
        else "truncated"
        if STATIONS_BODY.startswith(response.body)
        else "garbage"
        for response in bodies
    )
    assert set(kinds) == set(MALFORMED_KINDS)


# --- trickle -----------------------------------------------------------------------------------


def test_trickle(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(trickle_rate=1, trickle_interval=0.03)
    arrivals = []
    started = time.perf_counter()
    with client.stream("GET", "/small") as response:
        for chunk in response.iter_raw():
            arrivals.append((time.perf_counter() - started, chunk))
    body = b"".join(chunk for _, chunk in arrivals)
    assert body == b'{"a": 1}'
    assert len(arrivals) >= 4  # bytes came a few at a time
    assert arrivals[-1][0] >= 0.03 * (len(body) - 1) * 0.9


# --- outage ------------------------------------------------------------------------------------


def test_outage_drops_every_request(
    client: httpx.Client, injector: FaultInjector, api: Api
) -> None:
    injector.configure(outage=True)
    for _ in range(2):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/stations")
    assert api.requests == []
    injector.configure(outage=False)
    assert client.get("/stations").status_code == 200


def test_outage_seconds_ends_by_itself(
    client: httpx.Client, injector: FaultInjector, clock: Clock
) -> None:
    injector.configure(outage=True, outage_seconds=5)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/stations")
    clock.advance(4.9)
    assert get(injector).drop
    assert injector.faults.outage
    clock.advance(0.2)
    assert client.get("/stations").json() == STATIONS
    faults = injector.faults
    assert faults.outage is False
    assert faults.outage_seconds is None


def test_outage_clock_starts_when_the_outage_does(injector: FaultInjector, clock: Clock) -> None:
    injector.configure(outage_seconds=5)  # remembered, but no outage yet
    assert not get(injector).drop
    clock.advance(100)
    injector.configure(outage=True)
    clock.advance(4)
    assert get(injector).drop
    clock.advance(1)
    assert not get(injector).drop


# --- determinism -------------------------------------------------------------------------------


def pattern(injector: FaultInjector, count: int = 500) -> list[tuple[int, float]]:
    return [(r.status, r.delay) for r in (get(injector) for _ in range(count))]


def test_rates_are_honoured_deterministically(api: Api) -> None:
    settings = {"error_rate": 0.3, "hang_rate": 0.1, "hang_seconds": 7, "seed": 42}
    first = FaultInjector(api, control_token=TOKEN)
    first.configure(**settings)
    second = FaultInjector(api, control_token=TOKEN)
    second.configure(**settings)
    one, two = pattern(first), pattern(second)
    assert one == two
    errors = sum(status == 500 for status, _ in one) / len(one)
    hangs = sum(delay == 7 for _, delay in one) / len(one)
    assert 0.24 <= errors <= 0.36
    assert 0.06 <= hangs <= 0.14

    other = FaultInjector(api, control_token=TOKEN)
    other.configure(**{**settings, "seed": 43})
    assert pattern(other) != one


def test_seed_restarts_the_sequence_and_reset_goes_back_to_seed_zero(api: Api) -> None:
    injector = FaultInjector(api, control_token=TOKEN)
    injector.configure(error_rate=0.5, seed=3)
    first = pattern(injector, 50)
    injector.configure(seed=3)
    assert pattern(injector, 50) == first

    injector.reset()
    injector.configure(error_rate=0.5)
    zero = pattern(injector, 50)
    fresh = FaultInjector(api, control_token=TOKEN)
    fresh.configure(error_rate=0.5)
    assert pattern(fresh, 50) == zero


def test_changing_a_rate_does_not_shift_the_other_decisions(api: Api) -> None:
    """A fixed number of draws per request: turning on jitter keeps the same errors."""
    plain = FaultInjector(api, control_token=TOKEN)
    plain.configure(error_rate=0.4, seed=9)
    jittery = FaultInjector(api, control_token=TOKEN)
    jittery.configure(error_rate=0.4, seed=9, jitter=0.2, malformed_rate=0.1)
    assert [s for s, _ in pattern(plain, 200)] == [s for s, _ in pattern(jittery, 200)]


def test_thread_safe_under_concurrent_requests_and_changes(injector: FaultInjector) -> None:
    injector.configure(error_rate=0.5)
    statuses: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            status = get(injector).status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for index in range(50):
        injector.configure(latency=index / 100)
    for thread in threads:
        thread.join(10)
    assert len(statuses) == 1600
    assert set(statuses) == {200, 500}


# --- configure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"error_rat": 0.5}, "unknown fault setting"),
        ({"error_rate": 1.5}, "error_rate must be a number from 0 to 1"),
        ({"malformed_rate": -0.1}, "malformed_rate must be"),
        ({"hang_rate": "half"}, "hang_rate must be"),
        ({"trickle_rate": True}, "trickle_rate must be"),
        ({"latency": -1}, "latency must be a number of seconds >= 0"),
        ({"jitter": float("nan")}, "jitter must be"),
        ({"hang_seconds": -5}, "hang_seconds must be"),
        ({"trickle_interval": -0.1}, "trickle_interval must be"),
        ({"outage_seconds": -1}, "outage_seconds must be"),
        ({"outage": "yes"}, "outage must be true or false"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"error_codes": []}, "error_codes must be a non-empty list"),
        ({"error_codes": [4000, 9999]}, r"unknown code\(s\) \[9999\]"),
        ({"error_codes": "4000"}, "error_codes must be a non-empty list"),
        ({"malformed_kinds": ["truncated", "weird"]}, r"unknown malformed kind\(s\) \['weird'\]"),
        ({"malformed_kinds": []}, "malformed_kinds must be a non-empty list"),
    ],
)
def test_configure_validates(
    injector: FaultInjector, changes: dict[str, object], message: str
) -> None:
    injector.configure(latency=0.1)
    with pytest.raises(ValueError, match=message):
        injector.configure(**{"error_rate": 0.2, **changes})
    assert injector.faults == Faults(latency=0.1)  # all or nothing


def test_faults_is_a_copy(injector: FaultInjector) -> None:
    faults = injector.faults
    faults.error_rate = 1
    faults.error_codes.append(1004)
    assert injector.faults == Faults()


def test_control_token_is_required() -> None:
    with pytest.raises(ValueError, match="control_token"):
        FaultInjector(Api(), control_token="")


# --- control endpoint --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE"])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_control_needs_the_token(
    client: httpx.Client, injector: FaultInjector, method: str, token: str | None
) -> None:
    headers = {} if token is None else {"X-Simulator-Token": token}
    response = client.request(method, "/_simulator/faults", headers=headers, json={"error_rate": 1})
    assert response.status_code == 401
    assert "X-Simulator-Token" in response.json()["error"]
    assert injector.faults == Faults()


def test_control_get_put_post_delete(client: httpx.Client, injector: FaultInjector) -> None:
    current = client.get("/_simulator/faults", headers=AUTH)
    assert current.status_code == 200
    assert current.json() == Faults().to_json()

    put = client.put("/_simulator/faults", headers=AUTH, json={"latency": 0.01})
    assert put.status_code == 200
    assert put.json()["latency"] == 0.01
    post = client.post(
        "/_simulator/faults", headers=AUTH, json={"error_rate": 0.5, "error_codes": [2003]}
    )
    assert post.status_code == 200
    merged = client.get("/_simulator/faults", headers=AUTH).json()
    assert (merged["latency"], merged["error_rate"], merged["error_codes"]) == (0.01, 0.5, [2003])
    assert injector.faults == Faults(latency=0.01, error_rate=0.5, error_codes=[2003])

    # What GET returns can be PUT back as is.
    assert client.put("/_simulator/faults", headers=AUTH, json=merged).json() == merged

    deleted = client.delete("/_simulator/faults", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json() == Faults().to_json()
    assert injector.faults == Faults()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"nonsense": 1}', "unknown fault setting"),
        (b'{"error_rate": 2}', "error_rate must be"),
        (b'{"error_codes": [42]}', "unknown code"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_control_rejects_bad_settings(
    client: httpx.Client, injector: FaultInjector, body: bytes, message: str
) -> None:
    response = client.put("/_simulator/faults", headers=AUTH, content=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert injector.faults == Faults()


def test_control_other_methods(client: httpx.Client) -> None:
    response = client.patch("/_simulator/faults", headers=AUTH, json={})
    assert response.status_code == 405
    assert "PUT" in response.headers["allow"]


def test_control_is_never_faulted(client: httpx.Client, injector: FaultInjector) -> None:
    injector.configure(
        outage=True,
        error_rate=1,
        malformed_rate=1,
        hang_rate=1,
        hang_seconds=30,
        latency=10,
        trickle_rate=1,
    )
    started = time.perf_counter()
    response = client.get("/_simulator/faults", headers=AUTH)
    assert response.json()["outage"] is True
    assert client.delete("/_simulator/faults", headers=AUTH).status_code == 200
    assert time.perf_counter() - started < 1
    assert client.get("/stations").json() == STATIONS


def test_other_simulator_paths_go_to_the_api_unchanged(
    client: httpx.Client, injector: FaultInjector, api: Api
) -> None:
    injector.configure(outage=True, error_rate=1)
    response = client.post(
        "/_simulator/stations/3/state", params={"x": "1"}, content=b"{}", headers=AUTH
    )
    assert response.json() == {"api-control": "/_simulator/stations/3/state"}
    request = api.requests[-1]
    assert (request.method, request.path, request.query, request.body) == (
        "POST",
        "/_simulator/stations/3/state",
        {"x": "1"},
        b"{}",
    )
