"""SimulatorServer: a real loopback port in front of a simulator handler."""

from __future__ import annotations

import json
import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from simulator.http import SimRequest, SimResponse
from simulator.server import SimulatorServer

TIMEOUT = httpx.Timeout(5.0)
BIG_PAYLOAD = {
    "Stations": [{"Handle": i, "Name": f"Station {i:05d}", "Pad": "x" * 80} for i in range(9000)]
}
BIG_BODY = json.dumps(BIG_PAYLOAD).encode()


class Handler:
    """Answers by path; remembers requests; ``/hang`` tells when it has been reached."""

    def __init__(self) -> None:
        self.requests: list[SimRequest] = []
        self.hanging = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.requests.append(request)
        path = request.path
        if path.startswith("/echo"):
            return SimResponse.json(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query,
                    "headers": request.headers,
                    "body": request.body.decode("utf-8"),
                }
            )
        if path == "/big":
            return SimResponse(200, BIG_BODY)
        if path == "/custom":
            return SimResponse(
                201, b"<ok/>", content_type="application/xml", headers={"X-Station": "7"}
            )
        if path == "/empty":
            return SimResponse(204)
        if path == "/delay":
            return replace(SimResponse.json({"late": True}), delay=0.3)
        if path == "/trickle":
            return replace(SimResponse(200, b"0123456789"), trickle_interval=0.05)
        if path == "/trickle-chunks":
            return replace(SimResponse(200, b"abcdefgh"), trickle_interval=0.05, trickle_chunk=4)
        if path == "/drop":
            return replace(SimResponse(200, b"never sent"), drop=True)
        if path == "/hang":
            self.hanging.set()
            return replace(SimResponse.json({"too": "late"}), delay=30)
        if path == "/boom":
            raise RuntimeError("the simulator's API layer has a bug")
        if path == "/not-a-response":
            return {"oops": True}  # type: ignore[return-value]
        return SimResponse.json({"ErrorCode": 2004, "Message": "Ressource not found."}, 404)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def server(handler: Handler) -> Iterator[SimulatorServer]:
    with SimulatorServer(handler) as running:
        yield running


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        yield http


def test_url_and_port(server: SimulatorServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_answer_status_headers_and_body(client: httpx.Client) -> None:
    response = client.get("/custom")
    assert response.status_code == 201
    assert response.content == b"<ok/>"
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-length"] == "5"
    assert response.headers["x-station"] == "7"
    assert response.http_version == "HTTP/1.1"

    not_found = client.get("/nowhere")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"] == "application/json; charset=utf-8"
    assert not_found.json() == {"ErrorCode": 2004, "Message": "Ressource not found."}


def test_no_content(client: httpx.Client) -> None:
    response = client.get("/empty")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/custom").status_code == 201  # the connection is still in step


def test_request_conversion(client: httpx.Client, handler: Handler) -> None:
    response = client.post(
        "/echo/st%C3%A9/a%20b",
        params=[("limit", "10"), ("limit", "20"), ("page", ""), ("q", "é&x")],
        headers={"X-Custom-Header": "Value", "Authorization": "Basic ZGVtbzo="},
        content=b'{"Reference": "PRG-1"}',
    )
    assert response.status_code == 200
    request = handler.requests[-1]
    assert request.method == "POST"
    assert request.path == "/echo/sté/a b"
    assert request.query == {"limit": "10", "page": "", "q": "é&x"}
    assert request.headers["x-custom-header"] == "Value"
    assert request.headers["authorization"] == "Basic ZGVtbzo="
    assert request.headers["content-length"] == "22"
    assert all(name == name.lower() for name in request.headers)
    assert request.body == b'{"Reference": "PRG-1"}'


def test_chunked_request_body(client: httpx.Client, handler: Handler) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    response = client.put("/echo", content=pieces())
    assert response.json()["body"] == '{"a": 1}'
    assert handler.requests[-1].headers["transfer-encoding"] == "chunked"
    assert client.get("/echo").json()["method"] == "GET"  # still in step


def test_head_has_no_body(client: httpx.Client) -> None:
    response = client.head("/custom")
    assert response.status_code == 201
    assert response.headers["content-length"] == "5"
    assert response.content == b""
    assert client.get("/custom").content == b"<ok/>"


def test_keep_alive_serves_many_requests_on_one_connection(client: httpx.Client) -> None:
    ports = set()
    for index in range(10):
        if index % 2:
            response = client.post("/echo", content=f"body {index}".encode())
            assert response.json()["body"] == f"body {index}"
        else:
            response = client.get("/echo", params={"i": str(index)})
            assert response.json()["query"] == {"i": str(index)}
        ports.add(response.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert len(ports) == 1


def test_connection_close_is_honoured(server: SimulatorServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /custom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 201 ")
    assert data.endswith(b"\r\n\r\n<ok/>")


def test_a_megabyte_is_served_in_a_few_milliseconds(client: httpx.Client) -> None:
    assert len(BIG_BODY) > 1_000_000
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get("/big")
        timings.append(time.perf_counter() - started)
        assert response.content == BIG_BODY
    # Typically 2-5 ms on loopback; the bound leaves room for a loaded CI machine while still
    # catching a byte-by-byte writer (which takes seconds).
    assert statistics.median(timings) < 0.1, timings


def test_delay(client: httpx.Client) -> None:
    started = time.perf_counter()
    response = client.get("/delay")
    elapsed = time.perf_counter() - started
    assert response.json() == {"late": True}
    assert 0.3 <= elapsed < 2


def test_delay_beyond_the_client_timeout(client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.get("/delay", timeout=0.1)


@pytest.mark.parametrize(
    ("path", "body", "pieces"),
    [
        ("/trickle", b"0123456789", 10),
        ("/trickle-chunks", b"abcdefgh", 2),
    ],
)
def test_trickle(client: httpx.Client, path: str, body: bytes, pieces: int) -> None:
    arrivals: list[tuple[float, bytes]] = []
    started = time.perf_counter()
    with client.stream("GET", path) as response:
        assert response.headers["content-length"] == str(len(body))
        headers_at = time.perf_counter() - started
        for chunk in response.iter_raw():
            arrivals.append((time.perf_counter() - started, chunk))
    assert b"".join(chunk for _, chunk in arrivals) == body
    total = arrivals[-1][0]
    assert headers_at < total / 2  # the headers do not wait for the body
    assert total >= 0.05 * (pieces - 1) * 0.9
    # The body came in several reads spread over time, not at once.
    assert len(arrivals) >= min(pieces, 3)
    assert arrivals[0][0] < total - 0.04


def test_trickle_outlasts_an_overall_deadline(server: SimulatorServer) -> None:
    """Each byte arrives well within the read timeout, but the whole answer takes ~0.45 s."""
    started = time.perf_counter()
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as http:
        response = http.get(server.url + "/trickle")
    assert response.content == b"0123456789"
    assert time.perf_counter() - started >= 0.4


def test_drop(client: httpx.Client, handler: Handler) -> None:
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get("/drop")
    assert handler.requests[-1].path == "/drop"  # the request was received, then dropped
    assert client.get("/custom").status_code == 201  # a new connection works


def test_handler_exception_answers_500_and_the_server_keeps_serving(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="simulator.server")
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"ErrorCode": 4000, "Message": "Unexpected Error"}
    records = [r for r in caplog.records if r.name == "simulator.server"]
    assert records
    assert records[0].exc_info is not None
    assert "the simulator's API layer has a bug" in caplog.text
    assert client.get("/custom").status_code == 201  # same connection, still serving

    assert client.get("/not-a-response").status_code == 500


def test_stop_interrupts_a_hanging_request(handler: Handler) -> None:
    server = SimulatorServer(handler).start()
    outcome: list[BaseException | httpx.Response] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(server.url + "/hang", timeout=TIMEOUT))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert handler.hanging.wait(5)
    started = time.perf_counter()
    server.stop()
    thread.join(2)
    assert time.perf_counter() - started < 1
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.RemoteProtocolError | httpx.ReadError)


def test_stop_closes_idle_keep_alive_connections(handler: Handler) -> None:
    server = SimulatorServer(handler).start()
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
        assert http.get("/custom").status_code == 201
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 1
        with pytest.raises(httpx.TransportError):
            http.get("/custom")


def test_serve_forever_in_the_foreground(handler: Handler) -> None:
    server = SimulatorServer(handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert httpx.get(server.url + "/custom", timeout=TIMEOUT).status_code == 201
    server.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_a_stopped_server_cannot_restart(handler: Handler) -> None:
    server = SimulatorServer(handler)
    server.stop()  # never started: fine, and idempotent
    server.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        server.start()


def test_quiet_unless_verbose(handler: Handler, capfd: pytest.CaptureFixture[str]) -> None:
    with SimulatorServer(handler) as quiet:
        httpx.get(quiet.url + "/custom", timeout=TIMEOUT)
    assert capfd.readouterr().err == ""

    with SimulatorServer(handler, verbose=True) as loud:
        httpx.get(loud.url + "/custom", timeout=TIMEOUT)
    assert '"GET /custom HTTP/1.1" 201' in capfd.readouterr().err


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", b"400"),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", b"501"),
    ],
)
def test_bad_requests_do_not_hurt(
    server: SimulatorServer, client: httpx.Client, handler: Handler, raw: bytes, status: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        assert sock.recv(65536).split(b" ", 2)[1] == status
    assert handler.requests == []
    assert client.get("/custom").status_code == 201


def test_ipv6_loopback(handler: Handler) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = SimulatorServer(handler, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        assert server.url == f"http://[::1]:{server.port}"
        assert httpx.get(server.url + "/custom", timeout=TIMEOUT).status_code == 201
