"""cwork.tls against a real HTTPS SimulatorServer (and a raw TLS socket), sync and async."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import httpx
import pytest

from cwork import tls
from simulator.certs import (
    CertPair,
    generate_self_signed,
    load_or_create,
    server_ssl_context,
)
from simulator.http import SimRequest, SimResponse
from simulator.server import SimulatorServer

TIMEOUT = httpx.Timeout(5.0)


class Recorder:
    """A handler that remembers every request it was given."""

    def __init__(self) -> None:
        self.requests: list[SimRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: SimRequest) -> SimResponse:
        with self._lock:
            self.requests.append(request)
        return SimResponse.json({"ok": True, "path": request.path})


def causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from (httpx → httpcore → ssl)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError:
    found = [e for e in causes(exc) if isinstance(e, ssl.SSLCertVerificationError)]
    assert found, f"no certificate verification error behind {exc!r}"
    return found[0]


def get_sync(url: str, context: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        return client.get(url)


def get_async(url: str, context: ssl.SSLContext) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(verify=context, timeout=TIMEOUT) as client:
            return await client.get(url)

    return asyncio.run(run())


GETTERS = {"sync": get_sync, "async": get_async}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    return generate_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def expired_pair(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    now = datetime.now(UTC)
    return generate_self_signed(
        tmp_path_factory.mktemp("expired"),
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(pair: CertPair, recorder: Recorder) -> Iterator[SimulatorServer]:
    with SimulatorServer(recorder, ssl_context=server_ssl_context(pair)) as running:
        yield running


@pytest.fixture
def expired_server(expired_pair: CertPair, recorder: Recorder) -> Iterator[SimulatorServer]:
    with SimulatorServer(recorder, ssl_context=server_ssl_context(expired_pair)) as running:
        yield running


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the once-per-process warnings already given by other tests."""
    monkeypatch.setattr(tls, "_warned", set())


# --- (a) CA file ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", GETTERS)
def test_ca_file_trusting_the_self_signed_certificate(
    server: SimulatorServer, pair: CertPair, mode: str
) -> None:
    response = GETTERS[mode](server.url + "/stations", tls.ssl_context(ca_file=pair.cert_path))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "path": "/stations"}
    assert server.url.startswith("https://127.0.0.1:")


def test_ca_file_still_checks_the_host_name(tmp_path: Path, recorder: Recorder) -> None:
    other = generate_self_signed(tmp_path, hostnames=("cwork.example",))
    with (
        SimulatorServer(recorder, ssl_context=server_ssl_context(other)) as server,
        pytest.raises(httpx.ConnectError) as info,
    ):
        get_sync(server.url, tls.ssl_context(ca_file=str(other.cert_path)))
    assert "mismatch" in verification_error(info.value).verify_message.lower()
    assert recorder.requests == []


def test_ca_file_must_exist_and_hold_a_certificate(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="CA file not found"):
        tls.ssl_context(ca_file=tmp_path / "missing.pem")
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    with pytest.raises(ValueError, match="no usable PEM certificate"):
        tls.ssl_context(ca_file=tmp_path / "empty.pem")


# --- (b) default verification --------------------------------------------------------------


@pytest.mark.parametrize("mode", GETTERS)
def test_default_verification_refuses_a_self_signed_server(
    server: SimulatorServer, recorder: Recorder, mode: str
) -> None:
    with pytest.raises(httpx.ConnectError) as info:
        GETTERS[mode](server.url, tls.ssl_context())
    error = verification_error(info.value)
    assert "self" in error.verify_message.lower()  # "self-signed certificate"
    assert recorder.requests == []


# --- (c) pinning ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", GETTERS)
@pytest.mark.parametrize("style", ["colons", "plain-lower"])
def test_correct_pin_connects(
    server: SimulatorServer, pair: CertPair, recorder: Recorder, mode: str, style: str
) -> None:
    pin = pair.fingerprint if style == "colons" else pair.fingerprint.replace(":", "").lower()
    response = GETTERS[mode](server.url + "/pinned", tls.ssl_context(fingerprint=pin))
    assert response.status_code == 200
    assert [r.path for r in recorder.requests] == ["/pinned"]


def test_pinned_client_keeps_its_connection(server: SimulatorServer, pair: CertPair) -> None:
    context = tls.ssl_context(fingerprint=pair.fingerprint)
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        ports = {
            client.get(server.url).extensions["network_stream"].get_extra_info("client_addr")[1]
            for _ in range(3)
        }
    assert len(ports) == 1


# --- (d) wrong pin: nothing is sent ----------------------------------------------------------

WRONG_PIN = "00" * 32


@pytest.mark.parametrize("mode", GETTERS)
def test_wrong_pin_fails_before_the_request_is_sent(
    server: SimulatorServer, pair: CertPair, recorder: Recorder, mode: str
) -> None:
    with pytest.raises(httpx.ConnectError) as info:
        GETTERS[mode](server.url + "/secret", tls.ssl_context(fingerprint=WRONG_PIN))
    error = verification_error(info.value)
    expected = tls.normalize_fingerprint(WRONG_PIN)
    assert str(error) == (
        f"certificate fingerprint mismatch: expected {expected}, got {pair.fingerprint}"
    )
    assert "certificate fingerprint mismatch" in str(info.value)
    # A client that checked the pin after sending would have had the handler called by now.
    assert recorder.requests == []
    # And the server is fine for the next, correctly pinned, client.
    ok = GETTERS[mode](server.url + "/after", tls.ssl_context(fingerprint=pair.fingerprint))
    assert ok.status_code == 200
    assert [r.path for r in recorder.requests] == ["/after"]


class RawTLSServer:
    """Accepts one TLS connection and records every application byte the client sends."""

    def __init__(self, pair: CertPair) -> None:
        self.context = server_ssl_context(pair)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = b""
        self.handshake_completed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        connection.settimeout(5)
        try:
            tls_connection = self.context.wrap_socket(connection, server_side=True)
        except OSError:  # the client closed during the handshake
            connection.close()
            return
        with tls_connection:
            self.handshake_completed = True
            try:
                while b"\r\n\r\n" not in self.received:
                    chunk = tls_connection.recv(65536)
                    if not chunk:
                        return
                    self.received += chunk
                tls_connection.sendall(
                    b"HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                )
            except OSError:
                return

    def close(self) -> bytes:
        self.thread.join(5)
        self.listener.close()
        assert not self.thread.is_alive()
        return self.received


@pytest.mark.parametrize("mode", GETTERS)
@pytest.mark.parametrize("correct", [True, False], ids=["right-pin", "wrong-pin"])
def test_pin_is_checked_before_any_application_byte(
    pair: CertPair, mode: str, correct: bool
) -> None:
    raw = RawTLSServer(pair)
    context = tls.ssl_context(fingerprint=pair.fingerprint if correct else WRONG_PIN)
    if correct:
        # Control: this raw server does see a request when there is one.
        assert GETTERS[mode](raw.url + "/stations", context).status_code == 204
        assert raw.close().startswith(b"GET /stations HTTP/1.1\r\n")
    else:
        with pytest.raises(httpx.ConnectError, match="certificate fingerprint mismatch"):
            GETTERS[mode](raw.url + "/stations", context)
        assert raw.close() == b""  # not one byte of HTTP, so no Authorization header either


# --- (e) expired certificates --------------------------------------------------------------


def test_expired_certificate_fails_ca_file_verification(
    expired_server: SimulatorServer, expired_pair: CertPair, recorder: Recorder
) -> None:
    with pytest.raises(httpx.ConnectError) as info:
        get_sync(expired_server.url, tls.ssl_context(ca_file=expired_pair.cert_path))
    assert "expired" in verification_error(info.value).verify_message
    assert recorder.requests == []


@pytest.mark.usefixtures("fresh_warnings")
def test_expired_certificate_is_accepted_when_pinned_with_one_warning(
    expired_server: SimulatorServer,
    expired_pair: CertPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cwork.tls")
    context = tls.ssl_context(fingerprint=expired_pair.fingerprint)
    assert get_sync(expired_server.url, context).status_code == 200
    assert get_async(expired_server.url, context).status_code == 200
    assert get_sync(expired_server.url, context).status_code == 200
    warnings = [r for r in caplog.records if r.name == "cwork.tls"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "expired" in warnings[0].getMessage()
    assert expired_pair.fingerprint in warnings[0].getMessage()


# --- (f) verify=False ----------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_warnings")
def test_verify_false_connects_and_warns_once(
    server: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cwork.tls")
    assert get_sync(server.url, tls.ssl_context(verify=False)).status_code == 200
    assert get_async(server.url, tls.ssl_context(verify=False)).status_code == 200
    warnings = [r for r in caplog.records if r.name == "cwork.tls"]
    assert len(warnings) == 1
    assert "verification is turned off" in warnings[0].getMessage()


# --- (g) bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AB:CD",
        "00" * 31,
        "00" * 33,
        "zz" * 32,
        "00-" * 31 + "00",
        "0:00" * 16,
        ":".join(["00"] * 20),  # a SHA-1 fingerprint
        "sha256:" + "00" * 32,
    ],
)
def test_bad_fingerprints_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 certificate fingerprint"):
        tls.normalize_fingerprint(text)
    with pytest.raises(ValueError, match="not a SHA-256 certificate fingerprint"):
        tls.ssl_context(fingerprint=text)


class TLSOptions(TypedDict, total=False):
    """``ssl_context``'s options, each valid alone."""

    verify: bool
    ca_file: str
    fingerprint: str


@pytest.mark.parametrize(
    "options",
    [
        {"ca_file": "ca.pem", "fingerprint": "00" * 32},
        {"verify": False, "ca_file": "ca.pem"},
        {"verify": False, "fingerprint": "00" * 32},
    ],
)
def test_conflicting_options_are_refused(options: TLSOptions) -> None:
    with pytest.raises(ValueError, match=r"not both|cannot be combined"):
        tls.ssl_context(**options)


def test_fingerprint_formats() -> None:
    der = b"not really a certificate"
    formatted = tls.format_fingerprint(der)
    assert len(formatted) == 95
    assert formatted == formatted.upper()
    assert tls.normalize_fingerprint(formatted.lower()) == formatted
    assert tls.normalize_fingerprint(formatted.replace(":", "")) == formatted
    assert tls.normalize_fingerprint(f"  {formatted}\n") == formatted


def test_pair_fingerprint_matches_the_served_certificate(
    server: SimulatorServer, pair: CertPair
) -> None:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    der = ssl.get_server_certificate((host, int(port)))
    assert tls.format_fingerprint(ssl.PEM_cert_to_DER_cert(der)) == pair.fingerprint


def test_plain_http_to_the_https_port_fails(server: SimulatorServer, pair: CertPair) -> None:
    plain_url = server.url.replace("https://", "http://")
    with pytest.raises(httpx.TransportError):
        httpx.get(plain_url, timeout=TIMEOUT)
    assert get_sync(server.url, tls.ssl_context(fingerprint=pair.fingerprint)).status_code == 200


# --- (h) certificates on disk ----------------------------------------------------------------


def test_load_or_create_keeps_the_fingerprint(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "certs")
    second = load_or_create(tmp_path / "certs")
    assert second == first
    assert first.cert_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    if os.name == "posix":
        assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600


def test_load_or_create_replaces_a_broken_pair(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    other = generate_self_signed(tmp_path / "other")
    first.key_path.write_bytes(other.key_path.read_bytes())  # a key that does not match
    replaced = load_or_create(tmp_path)
    assert replaced.fingerprint != first.fingerprint
    assert load_or_create(tmp_path) == replaced


def test_generated_certificate_contents(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    before = datetime.now(UTC)
    pair = generate_self_signed(tmp_path, hostnames=("localhost", "127.0.0.1", "::1", "cwork"))
    certificate = x509.load_pem_x509_certificate(pair.cert_path.read_bytes())
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "cwork"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert certificate.not_valid_before_utc <= before - timedelta(hours=23)
    assert certificate.not_valid_after_utc >= before + timedelta(days=824)
    assert pair.cert_path.name == "cwork-simulator.crt"
    assert pair.key_path.name == "cwork-simulator.key"


def test_generate_refuses_inverted_dates(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="must be after"):
        generate_self_signed(tmp_path, not_before=now, not_after=now - timedelta(days=1))


def test_pin_holds_without_an_explicit_handshake(pair: CertPair) -> None:
    """A socket wrapped with do_handshake_on_connect=False: the first write checks the pin."""
    raw = RawTLSServer(pair)
    context = tls.ssl_context(fingerprint=WRONG_PIN)
    host, port = raw.url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as plain:
        wrapped = context.wrap_socket(plain, do_handshake_on_connect=False)
        with wrapped, pytest.raises(ssl.SSLCertVerificationError, match="fingerprint mismatch"):
            wrapped.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic a2V5Og==\r\n\r\n")
    assert raw.close() == b""
