"""``python -m simulator`` as an operator starts it: a real process on a real port."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwork import errors
from cwork.client import CWorkClient, Timeouts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def https_simulator(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--port",
            str(port),
            "--stations",
            "30",
            "--https",
            "--cert-dir",
            str(tmp_path / "certs"),
            "--api-key",
            "cli-key",
            "--api-version",
            "1.12",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("listening on"):
            break
    output = "".join(lines)
    fingerprint = re.search(r"SHA-256 fingerprint: ([0-9A-F:]{95})", output)
    try:
        assert fingerprint, f"the fingerprint is printed for pinning; got:\n{output}"
        assert f"https://127.0.0.1:{port}" in output
        yield f"https://127.0.0.1:{port}", fingerprint[1], process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_operator_can_pin_the_printed_fingerprint(https_simulator) -> None:
    url, fingerprint, _ = https_simulator
    with CWorkClient(url, "cli-key", fingerprint=fingerprint) as client:
        assert client.server_version.minor == 12, "the offered version is detected"
        statuses = client.station_statuses()
    assert len(statuses) == 30
    assert not statuses.rejected


def test_default_verification_refuses_the_self_signed_certificate(https_simulator) -> None:
    url, _, _ = https_simulator
    with (
        CWorkClient(url, "cli-key", timeouts=Timeouts(deadline=5)) as client,
        pytest.raises(errors.CWorkTLSError),
    ):
        client.stations()


def test_bad_options_are_refused_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--api-key", "k=Bob@Nobody"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown group 'Nobody'" in result.stderr
