"""Is the CWork connection usable, and if not, what should the shop's IT person change?

``check_connection`` walks the path a poll takes (network, TLS, API key, API version,
licences, stations) and returns one plain-language ``Check`` per step, each saying what to do
when something is wrong. It takes a ready client, so it is tested against the simulator
without Django's command machinery; ``run_checks`` builds that client from the settings the
dashboard itself uses (``manage.py check_cwork``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from cwork.client import CWorkClient, Timeouts
from cwork.errors import (
    CWorkAPIError,
    CWorkConnectionError,
    CWorkError,
    CWorkLicenseError,
    CWorkNotFound,
    CWorkProtocolError,
    CWorkTimeout,
    CWorkTLSError,
    CWorkVersionError,
    FunctionNotAllowed,
    NoLicense,
)
from cwork.models import Station
from cwork.tls import format_fingerprint
from cwork.versions import ENDPOINTS, ApiVersion

__all__ = ["Check", "Status", "Target", "check_connection", "has_failed", "run_checks"]


class Status(StrEnum):
    """Fixed words, untranslated, so that support can read a pasted output in any language."""

    OK = "OK"
    WARNING = "WARNING"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Check:
    """One step of the diagnosis: what was checked, how it went, what to do about it."""

    name: str
    status: Status
    message: str


@dataclass(frozen=True, slots=True)
class Target:
    """The connection settings being checked (the dashboard's own, or overridden)."""

    url: str
    api_key: str | None = None
    verify: bool = True
    ca_file: str | None = None
    fingerprint: str | None = None
    #: ``CWORK_API_VERSION``: a version the dashboard is pinned to instead of detecting it.
    api_version: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, *, url: str | None = None, api_key: str | None = None) -> Target:
        """The settings ``stations.connection.cwork_client`` uses, with optional overrides."""
        return cls(
            url=url or settings.CWORK_URL,
            api_key=api_key or settings.CWORK_API_KEY,
            verify=settings.CWORK_VERIFY_TLS,
            ca_file=settings.CWORK_CA_FILE,
            fingerprint=settings.CWORK_FINGERPRINT,
            api_version=settings.CWORK_API_VERSION,
            timeout=settings.CWORK_TIMEOUT,
        )

    def client(self) -> CWorkClient:
        """A client like the dashboard's, but without retries: a diagnosis should fail fast
        and say why, and it detects the server's version instead of trusting a pinned one."""
        return CWorkClient(
            self.url,
            self.api_key or "",
            verify=self.verify,
            ca_file=self.ca_file,
            fingerprint=self.fingerprint,
            timeouts=Timeouts(
                connect=min(5.0, self.timeout), read=self.timeout, deadline=3 * self.timeout
            ),
            retries=0,
        )


def has_failed(checks: list[Check]) -> bool:
    """Whether the dashboard cannot work as configured (warnings do not count)."""
    return any(check.status is Status.FAILED for check in checks)


def run_checks(target: Target) -> list[Check]:
    """Check the settings themselves, then the connection they describe."""
    problem = _settings_problem(target)
    if problem:
        return [Check(gettext("Settings"), Status.FAILED, problem)]
    try:
        client = target.client()
    except (ValueError, OSError) as exc:
        message = gettext(
            "the TLS settings cannot be used: %(error)s. Check CWORK_VERIFY_TLS, CWORK_CA_FILE "
            "and CWORK_FINGERPRINT."
        ) % {"error": exc}
        return [Check(gettext("Settings"), Status.FAILED, message)]
    with client:
        return check_connection(client, target)


def check_connection(client: CWorkClient, target: Target | None = None) -> list[Check]:
    """Every step a poll depends on, in order; stops at the first step nothing else can pass.

    ``target`` says how TLS and the API version were configured, to explain the outcome; by
    default, the client is taken to verify certificates the standard way and detect the
    version. The server's version is detected (and kept by ``client``) along the way.
    """
    target = target or Target(url=client.base_url)
    address = _address(client.base_url)
    try:
        detected = client.detect_version()
    except CWorkTLSError as exc:
        return [_reached(address), _tls_failure(exc, client, target)]
    except CWorkTimeout:
        return [_unreachable(address, _timed_out(client))]
    except CWorkConnectionError as exc:
        return [_unreachable(address, _connection_failure(exc, client.base_url))]
    except CWorkProtocolError:
        return [_unreachable(address, _not_cwork(address))]
    except CWorkVersionError:
        return [
            _reached(address),
            *_tls_outcome(client, target),
            Check(
                gettext("API version"),
                Status.FAILED,
                gettext(
                    "the server accepts none of the API versions this dashboard knows (v1.0 to "
                    "v%(newest)s): CWork 8.24 or later is needed. Upgrade CWork."
                )
                % {"newest": client.api_version},
            ),
        ]
    except CWorkAPIError as exc:
        return _refused(exc, client, target, address)

    checks = [_reached(address), *_tls_outcome(client, target), _authenticated()]
    checks += _version_checks(detected, target)
    stations: list[Station] | None = None
    try:
        listed = client.stations()
    except CWorkError as exc:
        station_check = Check(
            gettext("Stations"),
            Status.FAILED,
            gettext("CWork did not list its stations: %(error)s") % {"error": exc},
        )
    else:
        stations = listed
        station_check = _station_check(listed)
    checks += _licence_checks(client, stations)
    checks.append(station_check)
    return checks


# --- reachability ---------------------------------------------------------------------------


def _address(url: str) -> str:
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{host}:{port}"


def _connection_name() -> str:
    return gettext("Connection")


def _reached(address: str) -> Check:
    return Check(
        _connection_name(),
        Status.OK,
        gettext("the server answers at %(address)s.") % {"address": address},
    )


def _unreachable(address: str, why: str) -> Check:
    return Check(
        _connection_name(),
        Status.FAILED,
        gettext("no answer from CWork at %(address)s: %(why)s") % {"address": address, "why": why},
    )


def _timed_out(client: CWorkClient) -> str:
    return gettext(
        "no answer in time (%(seconds)g s to connect, %(read)g s to answer). A firewall may "
        "be dropping the traffic, the address may be wrong, or CWork is overloaded: check "
        "CWORK_URL, that this machine may reach that port, and CWORK_TIMEOUT."
    ) % {"seconds": client.timeouts.connect, "read": client.timeouts.read}


def _connection_failure(exc: CWorkConnectionError, url: str) -> str:
    detail = str(exc).lower()
    if "refused" in detail:
        return gettext(
            "the connection is refused, so nothing listens on that port. Check the address and "
            "port in CWORK_URL, and that CWork's API service (smmCApi) is running on the server."
        )
    if any(
        words in detail
        for words in (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo",
            "name resolution",
            "no address associated",
        )
    ):
        return gettext(
            "the host name in CWORK_URL is unknown to this machine's DNS. Check its spelling, "
            "or use the server's IP address."
        )
    if "unreachable" in detail or "no route" in detail:
        return gettext(
            "the network has no route to the server. Check the address in CWORK_URL and the "
            "network between this machine and the CWork server."
        )
    if url.startswith("http:"):
        return gettext(
            "the server cut the connection without answering. CWork serves HTTPS by default: "
            "if so, CWORK_URL must start with https://. (%(detail)s)"
        ) % {"detail": _cause(exc)}
    return gettext(
        "the connection failed (%(detail)s). Check CWORK_URL and that CWork's API service "
        "(smmCApi) is running."
    ) % {"detail": _cause(exc)}


def _not_cwork(address: str) -> str:
    return gettext(
        "something answers at %(address)s, but not CWork's API. CWORK_URL must be only the "
        "scheme, host and port of the CWork API (for example https://cwork.local:8443), "
        "without a path."
    ) % {"address": address}


def _cause(exc: CWorkError) -> str:
    """The error without the endpoint prefix the client adds (``states: ...``)."""
    text = str(exc)
    endpoint = getattr(exc, "endpoint", "")
    if endpoint and text.startswith(f"{endpoint}: "):
        text = text[len(endpoint) + 2 :]
    return text


# --- TLS ------------------------------------------------------------------------------------


def _tls_name() -> str:
    return gettext("TLS")


def _tls_outcome(client: CWorkClient, target: Target) -> list[Check]:
    """How the connection that just worked was protected."""
    url = httpx.URL(client.base_url)
    if url.scheme != "https":
        if _is_local(url.host):
            message = gettext("not used (plain HTTP on this machine).")
            return [Check(_tls_name(), Status.OK, message)]
        message = gettext(
            "not used: the traffic, the API key included, crosses the network unencrypted. "
            "CWork can serve HTTPS (its default): if possible, turn it back on, use an https:// "
            "CWORK_URL and pin the certificate with CWORK_FINGERPRINT."
        )
        return [Check(_tls_name(), Status.WARNING, message)]
    if target.fingerprint:
        message = gettext(
            "the server's certificate matches the pinned fingerprint (CWORK_FINGERPRINT)."
        )
        return [Check(_tls_name(), Status.OK, message)]
    if target.ca_file:
        message = gettext(
            "the server's certificate is verified against CWORK_CA_FILE (%(path)s)."
        ) % {"path": target.ca_file}
        return [Check(_tls_name(), Status.OK, message)]
    if target.verify:
        message = gettext("the server's certificate is verified by this machine's trust store.")
        return [Check(_tls_name(), Status.OK, message)]
    message = gettext(
        "certificate verification is off (CWORK_VERIFY_TLS=false): the traffic is encrypted, "
        "but any machine posing as the server would receive the API key."
    ) + _pin_advice(client, target)
    return [Check(_tls_name(), Status.WARNING, message)]


def _tls_failure(exc: CWorkTLSError, client: CWorkClient, target: Target) -> Check:
    detail = str(exc)
    lowered = detail.lower()
    if "fingerprint mismatch" in lowered:
        presented = _presented_fingerprint(client.base_url, target)
        message = gettext(
            "the server's certificate does not match CWORK_FINGERPRINT; the server presents "
            "%(presented)s. If CWork's certificate was renewed, check the new fingerprint on the "
            "CWork server itself and update CWORK_FINGERPRINT; otherwise another machine "
            "answers at this address."
        ) % {"presented": presented or gettext("a certificate that could not be read")}
    elif any(
        words in lowered for words in ("wrong_version_number", "wrong version number", "record")
    ):
        message = gettext(
            "the server does not speak HTTPS on this port. If CWork's HTTPS is turned off, "
            "CWORK_URL must start with http://; otherwise check the port."
        )
    elif "mismatch" in lowered or "doesn't match" in lowered:
        message = gettext(
            "the certificate is valid but not issued for the host in CWORK_URL. Use the name "
            "or address written in the certificate, or pin it with CWORK_FINGERPRINT instead "
            "of CWORK_CA_FILE."
        ) + _pin_advice(client, target)
    elif "expired" in lowered:
        message = gettext(
            "the server's certificate has expired. Renew it in CWork, or pin it with "
            "CWORK_FINGERPRINT (a pinned certificate is accepted whatever its dates)."
        ) + _pin_advice(client, target)
    elif "verify failed" in lowered or "certificate" in lowered:
        message = gettext(
            "the server's certificate is not trusted (CWork uses a self-signed certificate by "
            "default). Set CWORK_FINGERPRINT to the certificate's SHA-256 fingerprint, or "
            "CWORK_CA_FILE to a copy of the certificate."
        ) + _pin_advice(client, target)
    else:
        message = gettext("the TLS handshake failed (%(detail)s). Check CWORK_URL.") % {
            "detail": _cause(exc)
        }
    return Check(_tls_name(), Status.FAILED, message)


def _pin_advice(client: CWorkClient, target: Target) -> str:
    presented = _presented_fingerprint(client.base_url, target)
    if not presented:
        return ""
    return " " + gettext(
        "Before pinning, compare the fingerprint the server presents with the one shown on "
        "the CWork server itself, so as not to pin an impostor's. The server presents: "
        "%(fingerprint)s"
    ) % {"fingerprint": presented}


def _presented_fingerprint(url: str, target: Target) -> str | None:
    """The SHA-256 of the certificate the server presents, read without trusting it.

    Only the handshake is made: no HTTP request, so the API key is not sent.
    """
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # to read the certificate, not to trust it
    try:
        with (
            socket.create_connection((host, port), timeout=min(5.0, target.timeout)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls_socket,
        ):
            der = tls_socket.getpeercert(binary_form=True)
    except OSError:  # ssl.SSLError included
        return None
    return format_fingerprint(der) if der else None


def _is_local(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- authentication -------------------------------------------------------------------------


def _auth_name() -> str:
    return gettext("Authentication")


def _authenticated() -> Check:
    return Check(_auth_name(), Status.OK, gettext("the API key is accepted."))


def _refused(exc: CWorkAPIError, client: CWorkClient, target: Target, address: str) -> list[Check]:
    """CWork answered the first request with an error code: say which setting it points to."""
    if isinstance(exc, NoLicense):
        return [
            _reached(address),
            *_tls_outcome(client, target),
            _authenticated(),
            Check(
                gettext("Licences"),
                Status.FAILED,
                gettext(
                    "CWork has no API licence activated (code %(code)s), so it answers nothing. "
                    "Contact your CWork reseller."
                )
                % {"code": exc.code},
            ),
        ]
    if isinstance(exc, FunctionNotAllowed) or exc.http_status == 401:
        return [
            _reached(address),
            *_tls_outcome(client, target),
            Check(
                _auth_name(),
                Status.FAILED,
                gettext(
                    "the API key is refused (CWork code %(code)s). Copy the key of the CWork "
                    "user the dashboard should act as (in CWork: Tools > Preferences > User and "
                    "groups management, double-click the user, field API Key) into "
                    "CWORK_API_KEY."
                )
                % {"code": exc.code or exc.http_status},
            ),
        ]
    if isinstance(exc, CWorkNotFound):
        return [_unreachable(address, _not_cwork(address))]
    return [
        _reached(address),
        *_tls_outcome(client, target),
        Check(
            gettext("CWork API"),
            Status.FAILED,
            gettext(
                "CWork answered with an error (%(error)s). Check that CWork and its API service "
                "(smmCApi) run normally, then try again."
            )
            % {"error": exc},
        ),
    ]


# --- API version ----------------------------------------------------------------------------

#: CWork releases and the API version each brought (the version matrix of the API doc).
RELEASES: dict[ApiVersion, str] = {
    ApiVersion.parse(api): release
    for api, release in (
        ("1.0", "8.24"),
        ("1.1", "8.24.1"),
        ("1.2", "8.25"),
        ("1.3", "8.25.1"),
        ("1.4", "9.0"),
        ("1.5", "9.1.3"),
        ("1.6", "9.2"),
        ("1.7", "9.2.1"),
        ("1.8", "9.3.1"),
        ("1.9", "9.3.2"),
        ("1.10", "9.6.3"),
        ("1.11", "9.7"),
        ("1.12", "9.7.1"),
        ("1.13", "9.7.2"),
        ("1.14", "9.8"),
        ("1.15", "9.8.1"),
    )
}

#: What the dashboard's history sync reads, and the endpoint that brings it.
HISTORY_NEEDS: tuple[tuple[str, str], ...] = (
    ("tops", gettext_noop("state history")),
    ("station_alarms", gettext_noop("alarm history")),
    ("running_programs", gettext_noop("running and selected programs")),
)


def _release(version: ApiVersion) -> str:
    if version in RELEASES:
        return gettext("CWork %(release)s") % {"release": RELEASES[version]}
    newest = max(RELEASES)
    if version > newest:
        return gettext("a CWork release after %(release)s") % {"release": RELEASES[newest]}
    return gettext("an unknown CWork release")


def _version_checks(detected: ApiVersion, target: Target) -> list[Check]:
    name = gettext("API version")
    if target.api_version:
        pinned = ApiVersion.parse(target.api_version)
        if pinned > detected:
            message = gettext(
                "CWORK_API_VERSION is %(pinned)s, but the server answers at most v%(detected)s "
                "(%(release)s): the dashboard's requests would be refused. Remove "
                "CWORK_API_VERSION (the version is then detected) or set it to %(detected)s."
            ) % {"pinned": pinned, "detected": detected, "release": _release(detected)}
            return [Check(name, Status.FAILED, message)]
        used = pinned
        intro = gettext(
            "the server answers API v%(detected)s (%(release)s); the dashboard uses "
            "v%(used)s, as CWORK_API_VERSION says."
        ) % {"detected": detected, "release": _release(detected), "used": used}
    else:
        used = detected
        intro = gettext("the server answers API v%(detected)s (%(release)s), detected.") % {
            "detected": detected,
            "release": _release(detected),
        }

    parts = [intro]
    one_request = ENDPOINTS["station_statuses"].since
    if used >= one_request:
        parts.append(
            gettext("Statuses of all stations in one request: yes (v%(since)s+).")
            % {"since": one_request}
        )
    else:
        parts.append(
            gettext(
                "Statuses of all stations in one request: no, the dashboard asks each station "
                "in turn, one request per station and poll (v%(since)s+, %(release)s, does it "
                "in one and adds part counters)."
            )
            % {"since": one_request, "release": _release(one_request)}
        )
    missing = [
        gettext("%(what)s (v%(since)s+, %(release)s)")
        % {
            "what": gettext(what),
            "since": ENDPOINTS[endpoint].since,
            "release": _release(ENDPOINTS[endpoint].since),
        }
        for endpoint, what in HISTORY_NEEDS
        if ENDPOINTS[endpoint].since > used
    ]
    if not missing:
        return [Check(name, Status.OK, " ".join(parts))]
    parts.append(
        gettext(
            "The station history cannot be synced: this version lacks %(missing)s. Upgrade CWork."
        )
        % {"missing": ", ".join(missing)}
    )
    return [Check(name, Status.WARNING, " ".join(parts))]


# --- licences -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Licence:
    name: str  # gettext_noop'd, translated when shown
    #: What the dashboard loses without it, and how bad that is.
    loss: str
    missing_status: Status


_MONITOR = _Licence(
    gettext_noop("MDC licence (monitor)"),
    gettext_noop("the dashboard cannot show live statuses nor history without it."),
    Status.FAILED,
)
_DNC = _Licence(
    gettext_noop("DNC licence"),
    gettext_noop("the dashboard does not use DNC (programs), so nothing to do."),
    Status.OK,
)
_PROD = _Licence(
    gettext_noop("PROD licence"),
    gettext_noop("orders and operations will not be shown; everything else works."),
    Status.WARNING,
)


def _licence_checks(client: CWorkClient, stations: list[Station] | None) -> list[Check]:
    """One cheap read per licence module, chosen among what the server's version offers."""
    return [
        _probe(_MONITOR, lambda: _probe_monitor(client, stations)),
        _probe(_DNC, lambda: _probe_dnc(client)),
        _probe(_PROD, lambda: _probe_prod(client)),
    ]


class _CannotProbe(Exception):
    """Nothing to read with this licence (no suitable station); the message says why."""


def _probe(licence: _Licence, read: Callable[[], object]) -> Check:
    name = gettext(licence.name)
    try:
        read()
    except CWorkVersionError as exc:
        message = gettext(
            "cannot be used with this API version (%(endpoint)s needs v%(since)s+, "
            "%(release)s): %(loss)s"
        ) % {
            "endpoint": exc.endpoint,
            "since": exc.needed,
            "release": _release(exc.needed) if isinstance(exc.needed, ApiVersion) else exc.needed,
            "loss": gettext(licence.loss),
        }
        return Check(name, licence.missing_status, message)
    except CWorkLicenseError as exc:
        message = gettext(
            "not licensed (CWork code %(code)s, %(reason)s): %(loss)s To add the module, "
            "contact your CWork reseller."
        ) % {"code": exc.code, "reason": exc.message, "loss": gettext(licence.loss)}
        return Check(name, licence.missing_status, message)
    except (CWorkError, _CannotProbe) as exc:
        message = gettext("could not be checked: %(error)s") % {"error": exc}
        return Check(name, Status.WARNING, message)
    return Check(name, Status.OK, gettext("available."))


def _probe_monitor(client: CWorkClient, stations: list[Station] | None) -> None:
    if client.supports("station_statuses"):
        client.station_statuses(fallback=False)
        return
    # An older server has only the per-station status: ask one station that can answer.
    candidates = [s for s in stations or () if not s.disabled and s.mdc_mode is not False]
    if not candidates:
        raise _CannotProbe(gettext("no enabled station in MDC mode to ask the status of"))
    client.station_status(candidates[0].handle)


def _probe_dnc(client: CWorkClient) -> None:
    client.documents_page(limit=1)


def _probe_prod(client: CWorkClient) -> None:
    client.orders()


# --- stations -------------------------------------------------------------------------------


def _station_check(stations: list[Station]) -> Check:
    name = gettext("Stations")
    if not stations:
        return Check(
            name,
            Status.WARNING,
            gettext(
                "CWork lists no station for this API key: check in CWork that stations exist "
                "and that the key's user (and its group) may see them."
            ),
        )
    disabled = sum(1 for s in stations if s.disabled)
    without_mdc = sum(1 for s in stations if not s.disabled and s.mdc_mode is False)
    message = gettext("%(count)d stations, %(disabled)d disabled") % {
        "count": len(stations),
        "disabled": disabled,
    }
    if without_mdc:
        message += gettext(", %(count)d not in MDC mode (no live status)") % {"count": without_mdc}
    message += "."
    rejected = getattr(stations, "rejected", ())
    if rejected:
        message += " " + gettext(
            "%(count)d station records could not be read and are left out (first: %(reason)s)."
        ) % {"count": len(rejected), "reason": rejected[0].reason}
        return Check(name, Status.WARNING, message)
    return Check(name, Status.OK, message)


# --- settings -------------------------------------------------------------------------------


def _settings_problem(target: Target) -> str:
    """What makes the settings unusable before any request, or ``""``."""
    if not target.url.startswith(("http://", "https://")):
        return gettext(
            "CWORK_URL must start with http:// or https:// (got %(url)s), for example "
            "https://cwork.local:8443."
        ) % {"url": target.url}
    if not target.api_key:
        return gettext(
            "no API key: set CWORK_API_KEY to the key of a CWork user (in CWork: Tools > "
            "Preferences > User and groups management, double-click the user, field API Key)."
        )
    if target.api_version:
        try:
            ApiVersion.parse(target.api_version)
        except ValueError:
            return gettext(
                "CWORK_API_VERSION is %(value)s, not an API version like 1.12: correct it, or "
                "remove it to have the version detected."
            ) % {"value": target.api_version}
    return ""
