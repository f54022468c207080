"""How the client behaves when CWork does not simply answer: errors, retries, deadlines,
versions, bad records, secrets and TLS.

The network is replaced only at the HTTP transport: ``httpx.MockTransport`` replaying raw
bodies, or a real ``SimulatorServer`` on a loopback port for deadlines and TLS.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

import httpx
import pytest

from cwork.client import ASK_AGAIN_AFTER, BACKOFF_CAP, CWorkClient, Timeouts
from cwork.errors import (
    ERROR_CLASSES,
    CWorkAPIError,
    CWorkConflict,
    CWorkConnectionError,
    CWorkError,
    CWorkNotFound,
    CWorkProtocolError,
    CWorkRequestError,
    CWorkServerError,
    CWorkTimeout,
    CWorkTLSError,
    CWorkTransportError,
    CWorkVersionError,
    StateChangeConflict,
    StateChangeTimeout,
    StateNotFound,
    StationNotFound,
    VersionNotAvailable,
)
from cwork.versions import ApiVersion, version_from_accept
from simulator.certs import CertPair, generate_self_signed, server_ssl_context
from simulator.http import SimRequest, SimResponse
from simulator.server import SimulatorServer

API_KEY = "K3Y-5ECRET-0F-THE-DASHBOARD-4F1C9A"
BASE_URL = "http://cwork.test:8080"

STATES_BODY = b"""[
  {"Handle": 0, "Name": "Production", "Color": "#008000", "OEECategory": 4,
   "ParentHandle": null, "CloseDay": false, "ProdPercent": true, "UsePercent": true}
]"""


def response(
    status: int = 200, content: bytes | str = b"", content_type: str = "application/json"
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return httpx.Response(status, content=data, headers={"Content-Type": content_type})


def error_body(code: int, message: str) -> bytes:
    return json.dumps({"ErrorCode": code, "Message": message}).encode()


#: What a ``Script`` answers a request with.
Answer = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler: each answer in turn (the last one repeats); an answer may be a
    response, an exception to raise, or a function of the request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


class Sleeps(list):
    """A ``sleep`` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class ClientOptions(TypedDict, total=False):
    """The client's options a test sets beyond what its helper sets."""

    retries: int
    monotonic: Callable[[], float]
    ca_file: str | None
    fingerprint: str | None


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    server_version: str | None = "1.16",
    sleep: Callable[[float], None] | None = None,
    **options: Unpack[ClientOptions],
) -> CWorkClient:
    return CWorkClient(
        BASE_URL,
        API_KEY,
        server_version=server_version,
        transport=httpx.MockTransport(handler),
        sleep=sleep if sleep is not None else Sleeps(),
        **options,
    )


def dropped_after_sending(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def tls_failure(request: httpx.Request) -> httpx.Response:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    raise httpx.ConnectError(str(cause)) from cause


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(ERROR_CLASSES))
def test_every_documented_code_raises_its_own_class(code):
    cls = ERROR_CLASSES[code]
    message = f"CWork says {code}"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/states":  # the version probe, should a 1002 trigger one
            return response(200, STATES_BODY)
        return response(cls.http_status_default, error_body(code, message))

    client = make_client(Script(answer))
    with pytest.raises(CWorkAPIError) as caught:
        client.station(7)
    error = caught.value
    assert type(error) is cls
    assert error.code == code
    assert error.message == message
    assert error.http_status == cls.http_status_default
    assert error.endpoint == "station"
    assert str(code) in str(error)
    assert message in str(error)


@pytest.mark.parametrize(
    ("status", "content", "content_type", "expected", "message"),
    [
        pytest.param(
            404,
            '{"Code": "2003", "Message": "This station is not available or does not exist"}',
            "application/json",
            StationNotFound,
            "This station is not available or does not exist",
            id="Code-as-string",
        ),
        pytest.param(
            400,
            '{"Error": {"ErrorCode": 2005, "Message": "This state does not exist"}}',
            "application/json",
            StateNotFound,
            "This state does not exist",
            id="nested-Error",
        ),
        pytest.param(
            400,
            '{"error": {"code": 2005, "message": "This state does not exist"}}',
            "application/json",
            StateNotFound,
            "This state does not exist",
            id="nested-lower-case",
        ),
        pytest.param(
            400,
            '[{"ErrorCode": 2005, "Message": "This state does not exist"}]',
            "application/json",
            StateNotFound,
            "This state does not exist",
            id="in-a-list",
        ),
        pytest.param(
            400,
            "2005: This state does not exist",
            "text/plain",
            StateNotFound,
            "This state does not exist",
            id="plain-text",
        ),
        pytest.param(
            400,
            '"2005: This state does not exist"',
            "application/json",
            StateNotFound,
            "This state does not exist",
            id="json-string",
        ),
        pytest.param(
            200,
            '{"ErrorCode": 2003, "Message": "This station is not available or does not exist"}',
            "application/json",
            StationNotFound,
            "This station is not available or does not exist",
            id="error-in-a-200",
        ),
    ],
)
def test_error_shapes_are_read_leniently(status, content, content_type, expected, message):
    server = Script(response(status, content, content_type))
    client = make_client(server)
    with pytest.raises(CWorkAPIError) as caught:
        client.state(5)
    error = caught.value
    assert type(error) is expected
    assert error.message == message
    assert error.http_status == status
    assert error.endpoint == "state"
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "family"), [(409, CWorkRequestError), (500, CWorkServerError)])
def test_an_unknown_code_keeps_its_number(status, family):
    client = make_client(Script(response(status, error_body(2999, "Something new"))))
    with pytest.raises(CWorkAPIError) as caught:
        client.station(7)
    error = caught.value
    assert isinstance(error, family)
    assert error.code == 2999
    assert error.message == "Something new"
    assert "2999" in str(error)


def test_a_500_with_an_html_page_is_a_server_error():
    page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
    client = make_client(Script(response(500, page, "text/html")))
    with pytest.raises(CWorkServerError) as caught:
        client.station(7)
    assert caught.value.http_status == 500
    assert caught.value.code == 0


def test_numbers_in_an_html_error_page_are_not_cwork_codes():
    # A proxy's page that happens to hold years (2003, 2024) that are also CWork codes.
    page = (
        b"<html><head><title>500 Internal Server Error</title></head><body>"
        b"<h1>Internal Server Error</h1><p>Copyright 2003-2024 Example Corp.</p></body></html>"
    )
    client = make_client(Script(response(500, page, "text/html")))
    with pytest.raises(CWorkAPIError) as caught:
        client.station(7)
    assert type(caught.value) is CWorkServerError  # not StationNotFound
    assert caught.value.code == 0


def test_a_dated_maintenance_text_is_a_retryable_server_error():
    sleeps = Sleeps()
    server = Script(
        response(503, "Service unavailable since 2024-03-01 (maintenance)", "text/plain"),
        response(200, STATES_BODY),
    )
    client = make_client(server, sleep=sleeps)
    assert [s.name for s in client.states()] == ["Production"]  # not SendFailed (2024)
    assert len(server.requests) == 2


def test_errors_are_grouped_by_what_the_caller_can_do():
    assert issubclass(StationNotFound, CWorkNotFound)
    assert issubclass(StateChangeConflict, CWorkConflict)
    assert issubclass(CWorkAPIError, CWorkError)
    assert issubclass(CWorkTimeout, CWorkTransportError)
    assert issubclass(CWorkTLSError, CWorkConnectionError)
    for error in (StateChangeConflict(), StateChangeTimeout()):
        assert error.outcome_unknown is True  # "the state may have changed despite the error"
    assert StationNotFound().outcome_unknown is False


def test_a_2023_on_a_state_change_says_the_outcome_is_unknown():
    server = Script(response(409, error_body(2023, "Conflict detected")))
    client = make_client(server)
    with pytest.raises(StateChangeConflict) as caught:
        client.change_state(4, 1, "Breakdown")
    assert caught.value.outcome_unknown is True
    assert len(server.requests) == 1


# --- retries --------------------------------------------------------------------------------


def test_a_read_answered_503_is_retried_once_then_succeeds():
    sleeps = Sleeps()
    server = Script(response(503, b""), response(200, STATES_BODY))
    client = make_client(server, sleep=sleeps)
    states = client.states()
    assert [s.name for s in states] == ["Production"]
    assert len(server.requests) == 2
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] < BACKOFF_CAP


def test_a_read_answered_4000_is_retried():
    server = Script(response(500, error_body(4000, "Unexpected Error")), response(200, b"[]"))
    client = make_client(server)
    assert client.states() == []
    assert len(server.requests) == 2


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_read_that_keeps_failing_gives_up_after_1_plus_retries_attempts(retries):
    sleeps = Sleeps()
    server = Script(response(503, b""))
    client = make_client(server, sleep=sleeps, retries=retries)
    with pytest.raises(CWorkServerError) as caught:
        client.states()
    assert caught.value.http_status == 503
    assert len(server.requests) == 1 + retries
    assert len(sleeps) == retries
    assert all(0 <= pause <= BACKOFF_CAP for pause in sleeps)


def test_a_read_that_cannot_connect_gives_up_after_1_plus_retries_attempts():
    server = Script(refused)
    client = make_client(server, retries=2)
    with pytest.raises(CWorkConnectionError) as caught:
        client.stations()
    assert not isinstance(caught.value, CWorkTLSError)
    assert len(server.requests) == 3


WRITES = {
    "change_state": lambda c: c.change_state(4, 0, "Restarting production"),
    "reset_part_count": lambda c: c.reset_part_count(4, 12),
    "certify_version": lambda c: c.certify_version(38, "VALIDATED", document_id=27),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_answered_503_is_sent_once(write):
    sleeps = Sleeps()
    server = Script(response(503, b""), response(200, b"[]"))
    client = make_client(server, sleep=sleeps)
    with pytest.raises(CWorkServerError):
        write(client)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_whose_connection_dropped_is_sent_once_with_outcome_unknown(write):
    server = Script(dropped_after_sending)
    client = make_client(server)
    with pytest.raises(CWorkConnectionError) as caught:
        write(client)
    assert caught.value.outcome_unknown is True  # it may have been done: re-read first
    assert len(server.requests) == 1


def test_a_write_that_could_not_connect_was_not_done():
    server = Script(refused)
    client = make_client(server)
    with pytest.raises(CWorkConnectionError) as caught:
        client.change_state(4, 0)
    assert caught.value.outcome_unknown is False
    assert len(server.requests) == 1


def test_a_station_not_found_on_a_read_is_not_retried():
    sleeps = Sleeps()
    server = Script(response(404, error_body(2003, "no such station")), response(200, b"{}"))
    client = make_client(server, sleep=sleeps)
    with pytest.raises(StationNotFound):
        client.station_status(99)
    assert len(server.requests) == 1
    assert sleeps == []


def test_tls_errors_are_not_retried():
    sleeps = Sleeps()
    server = Script(tls_failure)
    client = make_client(server, sleep=sleeps)
    with pytest.raises(CWorkTLSError) as caught:
        client.states()
    assert caught.value.outcome_unknown is False
    assert len(server.requests) == 1
    assert sleeps == []


# --- deadline and timeouts against a real port ----------------------------------------------


@pytest.fixture
def sim() -> Iterator[Callable[..., SimulatorServer]]:
    """Start SimulatorServers on port 0 (HTTPS when given a context); all stopped afterwards."""
    servers: list[SimulatorServer] = []

    def start(handler, ssl_context: ssl.SSLContext | None = None) -> SimulatorServer:
        server = SimulatorServer(handler, ssl_context=ssl_context).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class SimRecorder:
    def __init__(self, answer: Callable[[SimRequest], SimResponse]) -> None:
        self.answer = answer
        self.requests: list[SimRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.requests.append(request)
        return self.answer(request)


def test_a_trickling_answer_hits_the_overall_deadline(sim):
    trickle = SimResponse(
        200, body=b"[" + b" " * 200 + b"]", trickle_interval=0.05, trickle_chunk=1
    )
    server = sim(lambda request: trickle)
    client = CWorkClient(
        server.url,
        API_KEY,
        server_version="1.16",
        timeouts=Timeouts(connect=1, read=1, deadline=1),
        sleep=Sleeps(),
    )
    started = time.monotonic()
    with pytest.raises(CWorkTimeout):
        client.states()  # each byte comes well within the read timeout; the whole does not
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 1.5
    client.close()


def test_an_answer_later_than_the_read_timeout_is_a_timeout(sim):
    server = sim(lambda request: replace(SimResponse(200, b"[]"), delay=3))
    client = CWorkClient(
        server.url,
        API_KEY,
        server_version="1.16",
        timeouts=Timeouts(connect=1, read=0.3, deadline=5),
        retries=0,
    )
    started = time.monotonic()
    with pytest.raises(CWorkTimeout) as caught:
        client.change_state(4, 0)
    assert time.monotonic() - started < 1.5
    assert caught.value.outcome_unknown is True  # the request went out; it may have been done
    client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_port_is_a_connection_error_with_a_known_outcome():
    client = CWorkClient(
        f"http://127.0.0.1:{_free_port()}",
        API_KEY,
        server_version="1.16",
        timeouts=Timeouts(connect=1, read=1, deadline=2),
        sleep=Sleeps(),
    )
    with pytest.raises(CWorkConnectionError) as caught:
        client.change_state(4, 0)
    assert not isinstance(caught.value, CWorkTimeout | CWorkTLSError)
    assert caught.value.outcome_unknown is False
    with pytest.raises(CWorkConnectionError):
        client.states()
    client.close()


# --- versions -------------------------------------------------------------------------------


class VersionedCWork:
    """Answers like a CWork server offering API versions up to ``newest``."""

    def __init__(self, newest: str, *, failing_station: int | None = None) -> None:
        self.newest = ApiVersion.parse(newest)
        self.failing_station = failing_station
        self.requests: list[httpx.Request] = []

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        asked = version_from_accept(request.headers.get("Accept"))
        if asked is None:
            return response(406, error_body(1003, "No version selected"))
        if asked > self.newest:
            return response(406, error_body(1002, f"Version {asked} is not available"))
        path = request.url.path
        if path == "/states":
            return response(200, STATES_BODY)
        if path == "/stations":
            stations = [{"Handle": h, "Name": f"M{h}", "DNCgroup": "G"} for h in (1, 2, 3)]
            return response(200, json.dumps(stations))
        match = re.fullmatch(r"/station_statuses/(\d+)", path)
        if match:
            handle = int(match[1])
            if handle == self.failing_station:
                return response(404, error_body(2003, "This station is not available"))
            return response(200, json.dumps(_status_record(None, PartCount=str(handle * 10))))
        if path == "/station_statuses" and asked >= ApiVersion(1, 12):
            return response(200, json.dumps([_status_record(1), _status_record(2)]))
        if path == "/stations/4/status_history" and request.method == "POST":
            return response(200, json.dumps(_status_record(None)))
        return response(404, error_body(2004, "Ressource not found."))


def _status_record(handle: int | None, **changes: object) -> dict[str, Any]:
    """A station status as CWork sends it (JSON)."""
    record: dict[str, Any] = {
        "Reference": "C138568-304",
        "Order": "588558",
        "Job": "30",
        "JobCycleTime": "5894",
        "PartCount": "50",
        "State": {"Handle": 0, "Name": "Production", "Color": "#008000", "OEECategory": 4},
        "LastTop": "2015-10-29T16:58:00.000+01:00",
        "Comment": "",
    }
    if handle is not None:
        record["Handle"] = handle
    record.update(changes)
    return record


def test_detect_version_finds_the_newest_the_server_answers_in_a_few_requests():
    server = VersionedCWork("1.9")
    client = make_client(server, server_version=None)
    assert client.detect_version() == ApiVersion(1, 9)
    assert client.server_version == ApiVersion(1, 9)
    assert 1 < len(server.requests) <= 5
    assert set(server.paths()) == {"/states"}
    accepted = {r.headers["Accept"] for r in server.requests}
    assert "application/json+v1.9" in accepted


def test_the_version_is_detected_once_and_used_for_every_call():
    server = VersionedCWork("1.13")
    client = make_client(server, server_version=None)
    client.states()
    client.stations()
    probes = server.paths().count("/states")
    assert server.requests[-1].headers["Accept"] == "application/json+v1.13"
    client.stations()
    assert server.paths().count("/states") == probes  # not asked again
    assert server.requests[-1].headers["Accept"] == "application/json+v1.13"


def test_station_statuses_fall_back_to_one_request_per_station_on_an_old_server():
    server = VersionedCWork("1.9", failing_station=2)
    client = make_client(server, server_version=None)
    statuses = client.station_statuses()
    after_detection = [p for p in server.paths() if p != "/states"]
    assert after_detection == [
        "/stations",
        "/station_statuses/1",
        "/station_statuses/2",
        "/station_statuses/3",
    ]
    assert [s.station_id for s in statuses] == [1, 3]  # filled in from the request
    assert [s.part_target for s in statuses] == [10, 30]
    [rejected] = statuses.rejected
    assert rejected.index == 1  # its position in the station list, as in the one-request form
    assert "station 2" in rejected.reason
    assert "2003" in rejected.reason


def test_the_fallback_raises_when_no_station_answers_at_all():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/stations":
            return httpx.Response(
                200, json=[{"Handle": 1, "Name": "A"}, {"Handle": 2, "Name": "B"}]
            )
        raise httpx.ConnectError("connection refused", request=request)

    client = CWorkClient(
        "http://cwork",
        "key",
        server_version="1.9",
        transport=httpx.MockTransport(handler),
        sleep=lambda _: None,
    )
    with pytest.raises(CWorkConnectionError):
        client.station_statuses()
    assert calls.count("/station_statuses/1") >= 1
    assert calls.count("/station_statuses/2") >= 1, "every station was tried before giving up"


def test_station_statuses_on_a_new_server_is_one_request():
    server = VersionedCWork("1.12")
    client = make_client(server, server_version="1.12")
    statuses = client.station_statuses()
    assert server.paths() == ["/station_statuses"]
    assert server.requests[0].headers["Accept"] == "application/json+v1.12"
    assert [s.station_id for s in statuses] == [1, 2]


def test_station_statuses_without_fallback_refuses_before_sending():
    server = VersionedCWork("1.9")
    client = make_client(server, server_version="1.9")
    with pytest.raises(CWorkVersionError) as caught:
        client.station_statuses(fallback=False)
    assert server.requests == []
    assert caught.value.needed == ApiVersion(1, 12)
    assert caught.value.available == ApiVersion(1, 9)


def test_tops_on_a_v1_9_server_refuses_before_sending():
    server = VersionedCWork("1.9")
    client = make_client(server, server_version="1.9")
    start, end = datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 1, 2, tzinfo=UTC)
    with pytest.raises(CWorkVersionError) as caught:
        client.tops_page(1, start, end)
    assert caught.value.needed == ApiVersion(1, 10)
    with pytest.raises(CWorkVersionError):
        next(client.iter_tops(1, start, end))
    assert server.requests == []


def test_a_request_field_newer_than_the_server_is_refused_before_sending():
    server = Script(response(200, b"[]"))
    client = make_client(server, server_version="1.14")
    with pytest.raises(CWorkVersionError) as caught:
        client.send_document(4, "1500", "MPF", destination_folder_mode="override")
    assert "DestinationFolderMode" in str(caught.value)
    assert server.requests == []
    assert client.send_document(4, "1500", "MPF") is None  # without it, it goes
    assert len(server.requests) == 1


def test_a_server_downgraded_mid_life_is_detected_again_once_and_the_call_retried():
    server = VersionedCWork("1.16")
    client = make_client(server, server_version=None)
    client.states()
    assert client.server_version == ApiVersion(1, 16)
    server.newest = ApiVersion(1, 12)  # CWork replaced by an older installation
    before = len(server.requests)

    statuses = client.station_statuses()

    assert [s.station_id for s in statuses] == [1, 2]
    assert client.server_version == ApiVersion(1, 12)
    later = server.requests[before:]
    assert later[0].url.path == "/station_statuses"
    assert later[0].headers["Accept"] == "application/json+v1.16"
    assert {r.url.path for r in later[1:-1]} == {"/states"}  # one detection round
    assert len(later[1:-1]) <= 5
    assert later[-1].url.path == "/station_statuses"
    assert later[-1].headers["Accept"] == "application/json+v1.12"


def test_a_write_refused_with_1002_is_resent_once_with_the_detected_version():
    server = VersionedCWork("1.16")
    client = make_client(server, server_version="1.16")
    server.newest = ApiVersion(1, 9)
    change = client.change_state(4, 0)
    assert change.state.name == "Production"
    posts = [r for r in server.requests if r.method == "POST"]
    assert [r.headers["Accept"] for r in posts] == [
        "application/json+v1.16",
        "application/json+v1.9",
    ]


def test_a_1002_that_detection_does_not_explain_is_raised():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/states":
            return response(200, STATES_BODY)
        return response(406, error_body(1002, "Version 1.16 is not available"))

    server = Script(answer)
    client = make_client(server, server_version="1.16")
    with pytest.raises(VersionNotAvailable):
        client.station(7)
    assert [r.url.path for r in server.requests].count("/stations/7") == 1  # not resent


# --- bad records in a list ------------------------------------------------------------------


def test_bad_status_records_never_hide_the_others():
    records = [
        _status_record(1),
        {k: v for k, v in _status_record(2).items() if k != "State"},
        _status_record(3, PartCount="abc"),
        _status_record(4),
        _status_record(None),
    ]
    client = make_client(Script(response(200, json.dumps(records))))
    statuses = client.station_statuses()
    assert [s.station_id for s in statuses] == [1, 3, 4]
    # The record without a State cannot be shown: rejected, with the reason.
    rejected = {r.index: r for r in statuses.rejected}
    assert set(rejected) == {1, 4}
    assert "State" in rejected[1].reason
    assert '"Handle": 2' in rejected[1].excerpt
    assert "Handle" in rejected[4].reason
    # The record with an unreadable part count is shown, that value unknown and noted.
    third = statuses[1]
    assert third.part_target is None
    assert third.state.name == "Production"
    assert any("PartCount" in p and "abc" in p for p in third.problems)
    assert statuses[0].part_target == 50
    assert statuses[0].problems == ()


# --- nothing CWork sends is lost ------------------------------------------------------------


def test_unknown_fields_are_kept_in_extra():
    station = {"Handle": 7, "Name": "HSC70", "DNCgroup": "G", "Spindle": {"MaxRpm": 12000}}
    status = _status_record(7, Temperature=41.5)
    status["State"] = {**status["State"], "Icon": "gear"}
    group = {"GroupId": "2", "GroupName": "Ops", "CanChangeState": "1", "Description": "Floor"}
    server = Script(
        response(200, json.dumps([station])),
        response(200, json.dumps([status])),
        response(200, json.dumps({"Groups": [group]})),
    )
    client = make_client(server)
    [read_station] = client.stations()
    [read_status] = client.station_statuses()
    [read_group] = client.groups()
    assert read_station.extra == {"Spindle": {"MaxRpm": 12000}}
    assert read_status.extra == {"Temperature": 41.5}
    assert read_status.state.extra == {"Icon": "gear"}
    assert read_group.extra == {"Description": "Floor"}
    assert read_group.can("ChangeState") is True
    assert read_group.problems == ()


# --- the API key stays secret ---------------------------------------------------------------

FAILURES = {
    "api-error": (lambda: response(404, error_body(2003, "no such station")), CWorkAPIError),
    "html-500": (lambda: response(500, b"<html>oops</html>", "text/html"), CWorkServerError),
    "garbage": (lambda: response(200, b'{"Handle": 7, "Name": '), CWorkProtocolError),
    "refused": (lambda: refused, CWorkConnectionError),
    "timeout": (lambda: httpx.ReadTimeout("timed out"), CWorkTimeout),
    "tls": (lambda: tls_failure, CWorkTLSError),
    "unauthorized": (lambda: response(401, b"Unauthorized", "text/plain"), CWorkAPIError),
}


@pytest.mark.parametrize(("answer", "expected"), FAILURES.values(), ids=FAILURES.keys())
def test_the_api_key_never_appears_in_errors_or_logs(answer, expected, caplog):
    caplog.set_level(logging.DEBUG)
    server = Script(answer())
    client = make_client(server)
    with pytest.raises(expected) as caught:
        client.station(7)
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    error = caught.value
    texts = [str(error), repr(error), *(str(a) for a in error.args)]
    texts += [getattr(error, "excerpt", ""), getattr(error, "message", "")]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    # The key did go out (in the header), so its absence below means something.
    assert server.requests[0].headers["Authorization"] == f"Basic {token}"
    for text in texts:
        assert API_KEY not in text
        assert token not in text


# --- TLS through the client, against a real HTTPS port --------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    return generate_self_signed(Path(tmp_path_factory.mktemp("cwork-cert")))


@pytest.fixture
def https(sim, cert) -> tuple[SimulatorServer, SimRecorder]:
    handler = SimRecorder(lambda request: SimResponse(200, STATES_BODY))
    return sim(handler, server_ssl_context(cert)), handler


def _tls_client(server: SimulatorServer, **tls_options: Unpack[ClientOptions]) -> CWorkClient:
    return CWorkClient(
        server.url,
        API_KEY,
        server_version="1.16",
        timeouts=Timeouts(connect=2, read=2, deadline=5),
        sleep=Sleeps(),
        **tls_options,
    )


def test_tls_with_the_right_fingerprint(https, cert):
    server, handler = https
    with _tls_client(server, fingerprint=cert.fingerprint) as client:
        assert [s.name for s in client.states()] == ["Production"]
    [request] = handler.requests
    assert request.headers["accept"] == "application/json+v1.16"


def test_tls_with_a_wrong_fingerprint_sends_nothing(https):
    server, handler = https
    client = _tls_client(server, fingerprint="AB:" * 31 + "AB")
    with client, pytest.raises(CWorkTLSError) as caught:
        client.states()
    assert "fingerprint" in str(caught.value)
    assert handler.requests == []  # not a single HTTP byte, so not the API key


def test_tls_with_default_verification_refuses_a_self_signed_server(https):
    server, handler = https
    sleeps = Sleeps()
    client = CWorkClient(server.url, API_KEY, server_version="1.16", sleep=sleeps)
    with client, pytest.raises(CWorkTLSError):
        client.states()
    assert handler.requests == []
    assert sleeps == []  # not retried


def test_tls_with_the_certificate_as_ca_file(https, cert):
    server, handler = https
    with _tls_client(server, ca_file=str(cert.cert_path)) as client:
        assert [s.name for s in client.states()] == ["Production"]
    assert len(handler.requests) == 1


def test_a_dropped_https_write_is_not_mistaken_for_a_tls_failure(sim, cert):
    handler = SimRecorder(lambda request: SimResponse(200, b"[]", drop=True))
    server = sim(handler, server_ssl_context(cert))
    client = _tls_client(server, fingerprint=cert.fingerprint)
    with client, pytest.raises(CWorkConnectionError) as caught:
        client.change_state(4, 0)
    assert not isinstance(caught.value, CWorkTLSError)
    assert caught.value.outcome_unknown is True
    assert len(handler.requests) == 1


def test_tls_options_on_a_plain_http_url_are_refused_not_ignored():
    with pytest.raises(ValueError, match="https://"):
        CWorkClient("http://cwork.local", "key", fingerprint="AB" * 32)


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cwork_upgrade_is_noticed_by_the_next_call_that_needs_it_a_minute_on():
    """A detection made while CWork was older (or while a fault refused its versions) must not
    pin the client to that version until a restart: the history (tops, v1.10) would stop."""
    server = VersionedCWork("1.9")
    clock = Monotonic()
    client = make_client(server, server_version=None, monotonic=clock)
    assert client.server_version == ApiVersion(1, 9)
    with pytest.raises(CWorkVersionError):
        client.tops_page(1, datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))
    server.newest = ApiVersion(1, 16)
    probes = server.paths().count("/states")
    clock.now += ASK_AGAIN_AFTER / 2
    assert not client.supports("tops")  # not asked again within the minute
    assert server.paths().count("/states") == probes
    clock.now += ASK_AGAIN_AFTER / 2
    assert client.supports("tops")
    assert client.server_version == ApiVersion(1, 16)
    probes = server.paths().count("/states")
    client.station_statuses()  # the batch call, no per-station fallback any more
    assert server.requests[-1].url.path == "/station_statuses"
    assert server.paths().count("/states") == probes


def test_a_version_given_by_the_caller_is_never_asked_again():
    server = VersionedCWork("1.16")
    clock = Monotonic()
    client = make_client(server, server_version="1.9", monotonic=clock)
    clock.now += 10 * ASK_AGAIN_AFTER
    assert not client.supports("tops")
    assert "/states" not in server.paths()
