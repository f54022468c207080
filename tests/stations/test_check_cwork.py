"""``manage.py check_cwork`` and ``check_connection`` against the simulator, on real ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from simulator import Simulator
from simulator.certs import CertPair, generate_self_signed, server_ssl_context
from simulator.server import SimulatorServer
from stations.diagnostics import Check, Status, Target, check_connection, has_failed

KEY = "demo-key"

Served = tuple[Simulator, SimulatorServer]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    return generate_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def cwork_settings(settings: Settings) -> Settings:
    """The dashboard's CWork settings, reset to plain defaults for each test."""
    settings.CWORK_API_KEY = KEY
    settings.CWORK_VERIFY_TLS = True
    settings.CWORK_CA_FILE = None
    settings.CWORK_FINGERPRINT = None
    settings.CWORK_API_VERSION = None
    settings.CWORK_TIMEOUT = 5.0
    return settings


@pytest.fixture
def served(cwork_settings: Settings) -> Iterator[Served]:
    """A 30-station simulator on a loopback port, configured as the dashboard's CWork."""
    sim = Simulator(stations=30, seed=3)
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        yield sim, server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(*args: str) -> tuple[str, CommandError | None]:
    """The command's output and, when it exits non-zero, the error it exits with."""
    out = StringIO()
    try:
        call_command("check_cwork", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def flat(output: str) -> str:
    """The output with its wrapped lines joined, to look for a sentence."""
    return " ".join(output.split())


# --- the command, over HTTP -----------------------------------------------------------------


def test_a_healthy_installation_passes_every_check(served: Served) -> None:
    sim, server = served
    disabled = sum(1 for s in sim.world.stations if s.disabled)
    assert disabled, "the simulated shop has a disabled station to count"

    output, error = run()

    assert error is None, output
    lines = output.splitlines()
    assert lines[0] == f"Checking CWork at {server.url}"
    assert f"OK       Connection: the server answers at 127.0.0.1:{server.port}." in lines
    assert "OK       TLS: not used (plain HTTP on this machine)." in lines
    assert "OK       Authentication: the API key is accepted." in lines
    assert "the server answers API v1.16" in output
    assert "Statuses of all stations in one request: yes (v1.12+)." in flat(output)
    for licence in ("MDC licence (monitor)", "DNC licence", "PROD licence"):
        assert f"OK       {licence}: available." in lines
    assert f"Stations: 30 stations, {disabled} disabled" in output
    assert "WARNING" not in output
    assert "FAILED" not in output
    assert lines[-1] == "All checks passed."


def test_a_refused_api_key_fails_authentication_and_stops_there(
    served: Served, cwork_settings: Settings
) -> None:
    cwork_settings.CWORK_API_KEY = "not-the-key"

    output, error = run()

    assert error is not None
    assert str(error) == "1 check failed."
    assert "OK       Connection:" in output
    assert "FAILED   Authentication: the API key is refused (CWork code 1001)" in output
    assert "CWORK_API_KEY" in output
    assert "Stations:" not in output, "nothing past the API key can be checked"


def test_the_api_key_option_overrides_the_setting(served: Served, cwork_settings: Settings) -> None:
    cwork_settings.CWORK_API_KEY = "not-the-key"

    output, error = run("--api-key", KEY)

    assert error is None, output
    assert "OK       Authentication: the API key is accepted." in output


def test_nothing_listening_fails_reachability(cwork_settings: Settings) -> None:
    port = closed_port()
    cwork_settings.CWORK_URL = f"http://127.0.0.1:{port}"

    output, error = run()

    assert error is not None
    assert f"FAILED   Connection: no answer from CWork at 127.0.0.1:{port}" in output
    assert "the connection is refused" in flat(output)
    assert "check the address and port in cwork_url" in flat(output).lower()
    assert "Authentication" not in output


def test_the_url_option_overrides_the_setting(served: Served, cwork_settings: Settings) -> None:
    _, server = served
    cwork_settings.CWORK_URL = f"http://127.0.0.1:{closed_port()}"

    output, error = run("--url", server.url)

    assert error is None, output
    assert output.splitlines()[0] == f"Checking CWork at {server.url}"
    assert f"OK       Connection: the server answers at 127.0.0.1:{server.port}." in output


def test_a_missing_prod_licence_is_a_warning_not_a_failure(cwork_settings: Settings) -> None:
    sim = Simulator(stations=6, licenses=("monitor", "dnc"))
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        output, error = run()

    assert error is None, output
    assert "WARNING  PROD licence: not licensed (CWork code 1001" in output
    assert "orders and operations will not be shown" in flat(output)
    assert "OK       MDC licence (monitor): available." in output
    assert "OK       DNC licence: available." in output
    assert output.splitlines()[-1] == "No check failed; 1 warning."


def test_an_old_server_is_polled_station_by_station(cwork_settings: Settings) -> None:
    sim = Simulator(stations=6, api_version="1.10")
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        output, error = run()

    assert error is None, output
    text = flat(output)
    assert "the server answers API v1.10 (CWork 9.6.3), detected." in text
    assert "Statuses of all stations in one request: no" in text
    assert "one request per station" in text
    assert "WARNING  API version:" in output
    assert "running and selected programs (v1.11+, CWork 9.7)" in text
    # The monitor licence is still proven, by one station's status.
    assert "OK       MDC licence (monitor): available." in output
    assert "PROD licence: cannot be used with this API version (orders needs v1.13+" in text


def test_a_server_that_never_answers_fails_reachability(cwork_settings: Settings) -> None:
    sim = Simulator(stations=3)
    sim.faults.configure(hang_rate=1.0, hang_seconds=10)
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        cwork_settings.CWORK_TIMEOUT = 0.3
        output, error = run()

    assert error is not None
    assert (
        f"FAILED Connection: no answer from CWork at 127.0.0.1:{server.port}: no answer in time"
        in (flat(output))
    )


def test_a_failing_cwork_is_reported_as_such(cwork_settings: Settings) -> None:
    sim = Simulator(stations=3)
    sim.faults.configure(error_rate=1.0, error_codes=[4000])
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        output, error = run()

    assert error is not None
    text = flat(output)
    assert "OK Connection:" in text
    assert "FAILED CWork API: CWork answered with an error (CWork error 4000" in text
    assert "Authentication" not in text


def test_a_pinned_version_the_server_lacks_fails(cwork_settings: Settings) -> None:
    sim = Simulator(stations=3, api_version="1.12")
    with sim.serve(port=0) as server:
        cwork_settings.CWORK_URL = server.url
        cwork_settings.CWORK_API_VERSION = "1.14"
        output, error = run()

    assert error is not None
    assert "FAILED API version: CWORK_API_VERSION is 1.14" in flat(output)
    assert "the server answers at most v1.12 (CWork 9.7.1)" in flat(output)


def test_a_lower_pinned_version_is_the_one_described(
    served: Served, cwork_settings: Settings
) -> None:
    cwork_settings.CWORK_API_VERSION = "1.11"

    output, error = run()

    assert error is None, output
    text = flat(output)
    assert "the dashboard uses v1.11, as CWORK_API_VERSION says" in text
    assert "Statuses of all stations in one request: no" in text


def test_settings_that_cannot_work_fail_before_any_request(cwork_settings: Settings) -> None:
    cwork_settings.CWORK_URL = f"http://127.0.0.1:{closed_port()}"
    cwork_settings.CWORK_API_KEY = ""

    output, error = run()

    assert error is not None
    assert "FAILED   Settings: no API key: set CWORK_API_KEY" in output
    assert "Connection" not in output


# --- the command, over HTTPS ----------------------------------------------------------------


@pytest.fixture
def served_tls(cwork_settings: Settings, pair: CertPair) -> Iterator[SimulatorServer]:
    sim = Simulator(stations=4)
    with sim.serve(port=0, ssl_context=server_ssl_context(pair)) as server:
        cwork_settings.CWORK_URL = server.url
        yield server


def test_an_untrusted_certificate_fails_and_shows_what_to_pin(
    served_tls: SimulatorServer, pair: CertPair
) -> None:
    output, error = run()

    assert error is not None
    text = flat(output)
    assert "OK Connection: the server answers" in text
    assert "FAILED TLS: the server's certificate is not trusted" in text
    assert "Set CWORK_FINGERPRINT to the certificate's SHA-256 fingerprint" in text
    assert text.endswith(f"The server presents: {pair.fingerprint}")
    assert "Authentication" not in output, "no API key is sent to an unverified server"


def test_a_pinned_fingerprint_is_reported(
    served_tls: SimulatorServer, cwork_settings: Settings, pair: CertPair
) -> None:
    cwork_settings.CWORK_FINGERPRINT = pair.fingerprint

    output, error = run()

    assert error is None, output
    assert "OK       TLS: the server's certificate matches the pinned fingerprint" in output
    assert "OK       Authentication: the API key is accepted." in output


def test_a_ca_file_is_reported(
    served_tls: SimulatorServer, cwork_settings: Settings, pair: CertPair
) -> None:
    cwork_settings.CWORK_CA_FILE = str(pair.cert_path)

    output, error = run()

    assert error is None, output
    assert "OK TLS: the server's certificate is verified against CWORK_CA_FILE" in flat(output)


def test_verification_off_is_a_warning(
    served_tls: SimulatorServer, cwork_settings: Settings, pair: CertPair
) -> None:
    cwork_settings.CWORK_VERIFY_TLS = False

    output, error = run()

    assert error is None, output
    text = flat(output)
    assert "WARNING TLS: certificate verification is off" in text
    assert pair.fingerprint in text


def test_a_wrong_pin_fails_and_names_the_presented_certificate(
    served_tls: SimulatorServer, cwork_settings: Settings, pair: CertPair
) -> None:
    cwork_settings.CWORK_FINGERPRINT = "AB" * 32

    output, error = run()

    assert error is not None
    text = flat(output)
    assert "FAILED TLS: the server's certificate does not match CWORK_FINGERPRINT" in text
    assert f"the server presents {pair.fingerprint}" in text


def test_https_to_a_plain_http_server_says_so(served: Served) -> None:
    _, server = served

    output, error = run("--url", server.url.replace("http://", "https://"))

    assert error is not None
    assert "FAILED TLS: the server does not speak HTTPS on this port" in flat(output)


def test_http_to_an_https_server_suggests_https(served_tls: SimulatorServer) -> None:
    output, error = run("--url", served_tls.url.replace("https://", "http://"))

    assert error is not None
    assert "CWORK_URL must start with https://" in flat(output)


# --- check_connection, in-process -----------------------------------------------------------


def test_check_connection_reports_each_step_in_order() -> None:
    sim = Simulator(stations=12, seed=7)
    with sim.client() as client:
        checks = check_connection(client)

    assert [c.name for c in checks] == [
        "Connection",
        "TLS",
        "Authentication",
        "API version",
        "MDC licence (monitor)",
        "DNC licence",
        "PROD licence",
        "Stations",
    ]
    found = by_name(checks)
    # The in-process simulator is "http://cwork-simulator": plain HTTP off this machine.
    assert found["TLS"].status is Status.WARNING
    assert "unencrypted" in found["TLS"].message
    assert all(c.status is Status.OK for c in checks if c.name != "TLS")
    assert found["Stations"].message.startswith("12 stations, ")
    assert not has_failed(checks)


def test_check_connection_leaves_the_client_on_the_detected_version() -> None:
    sim = Simulator(stations=3, api_version="1.13")
    with sim.client() as client:
        check_connection(client)
        assert str(client.server_version) == "1.13"


def test_a_missing_monitor_licence_fails() -> None:
    sim = Simulator(stations=4, licenses=("dnc", "prod"))
    with sim.client() as client:
        checks = by_name(check_connection(client))

    monitor = checks["MDC licence (monitor)"]
    assert monitor.status is Status.FAILED
    assert "not licensed (CWork code 1001" in monitor.message
    assert checks["PROD licence"].status is Status.OK
    assert has_failed(list(checks.values()))


def test_a_missing_monitor_licence_fails_on_an_old_server_too() -> None:
    """Before v1.12 the licence is proven with one station's status instead of all."""
    sim = Simulator(stations=4, api_version="1.11", licenses=("dnc",))
    with sim.client() as client:
        checks = by_name(check_connection(client))

    monitor = checks["MDC licence (monitor)"]
    assert monitor.status is Status.FAILED
    assert monitor.message.startswith("not licensed (CWork code 1001")
    assert checks["DNC licence"].status is Status.OK


def test_a_missing_dnc_licence_is_not_a_problem_for_the_dashboard() -> None:
    sim = Simulator(stations=4, licenses=("monitor", "prod"))
    with sim.client() as client:
        dnc = by_name(check_connection(client))["DNC licence"]

    assert dnc.status is Status.OK
    assert dnc.message.startswith("not licensed (CWork code 1001")


def test_no_licence_at_all_fails_with_code_3001() -> None:
    sim = Simulator(stations=4, licenses=())
    with sim.client() as client:
        checks = check_connection(client)

    assert [(c.name, c.status) for c in checks][-2:] == [
        ("Authentication", Status.OK),
        ("Licences", Status.FAILED),
    ]
    assert "no API licence activated (code 3001)" in checks[-1].message


def test_a_refused_key_in_process() -> None:
    sim = Simulator(stations=4)
    with sim.client(api_key="wrong") as client:
        checks = check_connection(client)

    assert checks[-1].name == "Authentication"
    assert checks[-1].status is Status.FAILED
    assert has_failed(checks)


def test_a_url_with_a_path_is_not_cwork(served: Served) -> None:
    _, server = served
    target = Target(url=server.url + "/api", api_key=KEY, timeout=5.0)
    with target.client() as client:
        checks = check_connection(client, target)

    assert len(checks) == 1
    assert checks[0].status is Status.FAILED
    assert "but not CWork's API" in checks[0].message
    assert "without a path" in checks[0].message


def test_check_is_immutable() -> None:
    check = Check("Connection", Status.OK, "fine")
    with pytest.raises(AttributeError):
        check.status = Status.FAILED  # type: ignore[misc]
