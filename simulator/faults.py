"""Fault injection for the simulator, switchable while it runs.

:class:`FaultInjector` wraps a simulator ``Handler`` and spoils a share of its answers the way a
real shop-floor network and a real CWork do: latency and jitter, CWork error codes, malformed
bodies, hanging requests, trickling answers and outages (connections dropped without a word).

It is controlled from tests with :meth:`FaultInjector.configure` or, at run time, over HTTP on
the same port (never itself faulted)::

    GET    /_simulator/faults   current settings (JSON)
    PUT    /_simulator/faults   merge a JSON object into the settings (POST does the same)
    DELETE /_simulator/faults   back to no faults

Each needs the header ``X-Simulator-Token: <control_token>``. Any other ``/_simulator/`` path
goes to the wrapped handler untouched.

Decisions are drawn from the injector's own ``random.Random(seed)``, a fixed number of draws per
request, so a seed and a sequence of requests always give the same faults, whatever the rates.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cwork.errors import ERROR_CLASSES
from simulator.http import Handler, SimRequest, SimResponse

__all__ = ["CONTROL_PATH", "MALFORMED_KINDS", "TOKEN_HEADER", "FaultInjector", "Faults"]

CONTROL_PATH = "/_simulator/faults"
CONTROL_PREFIX = "/_simulator/"
#: Request header carrying the control token (lower case, as in ``SimRequest.headers``).
TOKEN_HEADER = "x-simulator-token"  # noqa: S105 (a header name, not a secret)
MALFORMED_KINDS = ("truncated", "garbage", "html", "empty")

_RATES = ("error_rate", "malformed_rate", "hang_rate", "trickle_rate")
_DURATIONS = ("latency", "jitter", "hang_seconds", "trickle_interval")
_ACCEPT_VERSION_RE = re.compile(r"application/json\+v(\d+(?:\.\d+)?)", re.IGNORECASE)
_HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\r\n<html><head><title>Service Unavailable</title></head>\r\n"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
    b"request. Please try again later.</p><hr><address>Microsoft-HTTPAPI/2.0</address></body>"
    b"</html>\r\n"
)


@dataclass
class Faults:
    """What to spoil. Rates are shares of requests (0..1), durations seconds."""

    #: Seconds added to every answer.
    latency: float = 0
    #: Extra delay drawn uniformly in 0..jitter.
    jitter: float = 0
    #: Share of requests answered with a CWork error (drawn from ``error_codes``).
    error_rate: float = 0
    #: CWork codes for injected errors; 0 is a bare HTTP 503 with a non-JSON body.
    error_codes: list[int] = field(default_factory=lambda: [4000])
    #: Share of successful JSON answers corrupted (kind drawn from ``malformed_kinds``).
    malformed_rate: float = 0
    malformed_kinds: list[str] = field(default_factory=lambda: list(MALFORMED_KINDS))
    #: Share of requests that wait ``hang_seconds`` before answering.
    hang_rate: float = 0
    hang_seconds: float = 30
    #: Share of answers sent one byte every ``trickle_interval`` seconds.
    trickle_rate: float = 0
    trickle_interval: float = 0.5
    #: Every request dropped without an answer (for ``outage_seconds`` if given).
    outage: bool = False
    outage_seconds: float | None = None
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name for f in dataclasses.fields(Faults)}


@dataclass(frozen=True, slots=True)
class _Draws:
    """The random numbers of one request, always drawn all together."""

    hang: float
    error: float
    error_pick: float
    malformed: float
    malformed_pick: float
    trickle: float
    jitter: float
    garbage_seed: int


class FaultInjector:
    """A ``Handler`` that passes requests to ``handler`` and spoils some answers.

    An injected error answers in place of the handler (the request never reaches it, so a
    write did not happen); every other fault spoils the handler's real answer. Thread-safe.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        control_token: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not control_token:
            raise ValueError("control_token must not be empty")
        self._handler = handler
        self._token = control_token.encode("utf-8")
        self._clock = clock
        self._lock = threading.Lock()
        self._faults = Faults()
        self._rng = random.Random(self._faults.seed)
        self._outage_until: float | None = None

    # --- settings ---------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """A copy of the current settings (changing it changes nothing)."""
        with self._lock:
            self._end_outage_if_due()
            return _copy(self._faults)

    def configure(self, **changes: Any) -> Faults:
        """Merge ``changes`` into the settings, all or nothing; returns the new settings.

        Raises ``ValueError`` for an unknown field or a bad value. Giving ``seed`` restarts the
        random sequence; setting ``outage`` (or ``outage_seconds`` during an outage) restarts
        the outage's clock.
        """
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(_FIELDS))})"
            )
        with self._lock:
            self._end_outage_if_due()
            updated = dataclasses.replace(_copy(self._faults), **_copy_values(changes))
            _validate(updated)
            self._faults = updated
            if "seed" in changes:
                self._rng = random.Random(updated.seed)
            if not updated.outage:
                self._outage_until = None
            elif "outage" in changes or "outage_seconds" in changes:
                self._outage_until = (
                    None
                    if updated.outage_seconds is None
                    else self._clock() + updated.outage_seconds
                )
            return _copy(updated)

    def reset(self) -> Faults:
        """No faults, seed 0 (the random sequence starts again)."""
        with self._lock:
            self._faults = Faults()
            self._rng = random.Random(self._faults.seed)
            self._outage_until = None
            return _copy(self._faults)

    def _end_outage_if_due(self) -> None:
        """Under the lock: a timed outage that is over ends by itself."""
        if (
            self._faults.outage
            and self._outage_until is not None
            and self._clock() >= self._outage_until
        ):
            self._faults.outage = False
            self._faults.outage_seconds = None
            self._outage_until = None

    # --- requests ---------------------------------------------------------------------------

    def __call__(self, request: SimRequest) -> SimResponse:
        if request.path.rstrip("/") == CONTROL_PATH:
            return self._control(request)
        if request.path.startswith(CONTROL_PREFIX):
            return self._handler(request)  # the API layer's own control endpoints

        with self._lock:
            self._end_outage_if_due()
            faults = _copy(self._faults)
            if faults.outage:
                return SimResponse(503, drop=True)
            rng = self._rng
            draws = _Draws(
                hang=rng.random(),
                error=rng.random(),
                error_pick=rng.random(),
                malformed=rng.random(),
                malformed_pick=rng.random(),
                trickle=rng.random(),
                jitter=rng.random(),
                garbage_seed=rng.getrandbits(64),
            )

        if draws.error < faults.error_rate:
            code = _pick(faults.error_codes, draws.error_pick)
            response = _error_response(code, request)
        else:
            response = dataclasses.replace(self._handler(request))
            if draws.malformed < faults.malformed_rate and _is_json_success(response):
                kind = _pick(faults.malformed_kinds, draws.malformed_pick)
                response = _malform(response, kind, draws.garbage_seed)

        delay = faults.latency + draws.jitter * faults.jitter
        if draws.hang < faults.hang_rate:
            delay += faults.hang_seconds
        response.delay += delay
        if draws.trickle < faults.trickle_rate and faults.trickle_interval > 0 and response.body:
            response.trickle_interval = faults.trickle_interval
            response.trickle_chunk = 1
        return response

    # --- control endpoint -------------------------------------------------------------------

    def _control(self, request: SimRequest) -> SimResponse:
        token = request.headers.get(TOKEN_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(token, self._token):
            return _control_error(
                401, "missing or wrong X-Simulator-Token header for /_simulator/faults"
            )
        if request.method in ("GET", "HEAD"):
            return SimResponse.json(self.faults.to_json())
        if request.method == "DELETE":
            return SimResponse.json(self.reset().to_json())
        if request.method not in ("PUT", "POST"):
            response = _control_error(
                405, f"{request.method} is not allowed here (GET, PUT, POST, DELETE)"
            )
            response.headers["Allow"] = "GET, HEAD, PUT, POST, DELETE"
            return response
        try:
            changes = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _control_error(400, f"the body is not valid JSON: {exc}")
        if not isinstance(changes, dict):
            return _control_error(400, "the body must be a JSON object of fault settings")
        try:
            updated = self.configure(**changes)
        except (TypeError, ValueError) as exc:
            return _control_error(400, str(exc))
        return SimResponse.json(updated.to_json())


# --- helpers ----------------------------------------------------------------------------------


def _copy(faults: Faults) -> Faults:
    return dataclasses.replace(
        faults,
        error_codes=list(faults.error_codes),
        malformed_kinds=list(faults.malformed_kinds),
    )


def _copy_values(changes: dict[str, Any]) -> dict[str, Any]:
    return {name: list(v) if isinstance(v, list | tuple) else v for name, v in changes.items()}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate(faults: Faults) -> None:
    for name in _RATES:
        value = getattr(faults, name)
        if not _is_number(value) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    for name in _DURATIONS:
        value = getattr(faults, name)
        if not _is_number(value) or value < 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if faults.outage_seconds is not None and (
        not _is_number(faults.outage_seconds) or faults.outage_seconds < 0
    ):
        raise ValueError(
            f"outage_seconds must be null or a number of seconds >= 0, "
            f"got {faults.outage_seconds!r}"
        )
    if not isinstance(faults.outage, bool):
        raise ValueError(f"outage must be true or false, got {faults.outage!r}")
    if not isinstance(faults.seed, int) or isinstance(faults.seed, bool):
        raise ValueError(f"seed must be an integer, got {faults.seed!r}")

    codes = faults.error_codes
    if not isinstance(codes, list) or not codes:
        raise ValueError(f"error_codes must be a non-empty list of CWork codes, got {codes!r}")
    bad_codes = [
        code
        for code in codes
        if not isinstance(code, int)
        or isinstance(code, bool)
        or (code != 0 and code not in ERROR_CLASSES)
    ]
    if bad_codes:
        raise ValueError(
            f"error_codes has unknown code(s) {bad_codes!r}: use the codes of the CWork "
            f"documentation ({min(ERROR_CLASSES)}..{max(ERROR_CLASSES)}) or 0 for a bare 503"
        )

    kinds = faults.malformed_kinds
    if not isinstance(kinds, list) or not kinds:
        raise ValueError(f"malformed_kinds must be a non-empty list, got {kinds!r}")
    bad_kinds = [kind for kind in kinds if kind not in MALFORMED_KINDS]
    if bad_kinds:
        raise ValueError(
            f"unknown malformed kind(s) {bad_kinds!r} (known: {', '.join(MALFORMED_KINDS)})"
        )


def _pick(choices: list[Any], draw: float) -> Any:
    return choices[min(int(draw * len(choices)), len(choices) - 1)]


def _error_response(code: int, request: SimRequest) -> SimResponse:
    if code == 0:
        return SimResponse(503, b"Service Unavailable", content_type="text/plain; charset=utf-8")
    error = ERROR_CLASSES[code]
    message = error.default_message
    if "%s" in message:  # 1002: "Version %s is not available"
        match = _ACCEPT_VERSION_RE.search(request.headers.get("accept", ""))
        message = message.replace("%s", match[1] if match else "?")
    return SimResponse.json({"ErrorCode": code, "Message": message}, error.http_status_default)


def _is_json_success(response: SimResponse) -> bool:
    return (
        200 <= response.status < 300
        and not response.drop
        and bool(response.body)
        and "json" in response.content_type.lower()
    )


def _malform(response: SimResponse, kind: str, garbage_seed: int) -> SimResponse:
    body = response.body
    if kind == "truncated":
        response.body = body[: len(body) // 2]
    elif kind == "garbage":
        size = max(16, min(len(body), 4096))
        # Starts with bytes that are neither UTF-8 nor JSON, whatever follows.
        response.body = b"\xff\xfe" + random.Random(garbage_seed).randbytes(size - 2)
    elif kind == "html":
        response.status = 200
        response.content_type = "text/html; charset=utf-8"
        response.body = _HTML_ERROR_PAGE
    else:  # empty
        response.body = b""
    return response


def _control_error(status: int, message: str) -> SimResponse:
    return SimResponse.json({"error": message}, status)
