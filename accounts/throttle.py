"""Failed logins, counted per user name and per client address in the cache.

Past the limit within the window, a login is refused before the password is checked, so the
refusal tells nothing about the password. A successful login clears its user name's count
(not its address's: one address can be a whole workshop's tablets behind one router). The
address is the client's, behind a trusted reverse proxy too (``core.proxies``).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

KEY_PREFIX = "login-failures"


def now() -> float:
    """The clock failures are dated with (replaced in tests)."""
    return time.time()


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{kind}:{digest}"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    keys = [(_key("user", username.strip().casefold()), settings.LOGIN_FAILURES_PER_USER)]
    if address:
        keys.append((_key("address", address), settings.LOGIN_FAILURES_PER_ADDRESS))
    return keys


def _recent(key: str, at: float) -> list[float]:
    window = settings.LOGIN_FAILURE_WINDOW
    return [t for t in cache.get(key) or [] if at - window < t <= at]


def blocked_for(username: str, address: str) -> int:
    """Seconds until a login may be tried again for this user name and address; 0 if now."""
    at = now()
    wait = 0.0
    for key, limit in _keys(username, address):
        failures = _recent(key, at)
        if len(failures) >= limit:
            # Free again when enough of the oldest failures have left the window.
            oldest = sorted(failures)[len(failures) - limit]
            wait = max(wait, oldest + settings.LOGIN_FAILURE_WINDOW - at)
    return math.ceil(wait)


def record_failure(username: str, address: str) -> None:
    at = now()
    window = settings.LOGIN_FAILURE_WINDOW
    for key, limit in _keys(username, address):
        # Only the newest ``limit`` failures matter; the entry expires with the window.
        failures = [*_recent(key, at), at][-limit:]
        cache.set(key, failures, timeout=window)


def clear(username: str) -> None:
    cache.delete(_keys(username, "")[0][0])
