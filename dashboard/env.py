"""Settings from the environment, read by small typed helpers.

A missing or malformed value stops the process at start-up with the variable's name, what
was found and what was expected: a shop's IT person should never have to read a traceback
to find a typo in a ``.env`` file.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def is_set(self, name: str) -> bool:
        return self._raw(name) is not None

    def _bad(self, name: str, value: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            if required or default is None:
                raise ImproperlyConfigured(f"{name} must be set.")
            return default
        return value

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self._bad(name, value, "true or false")

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self._bad(name, value, "a whole number") from None
        if minimum is not None and number < minimum:
            raise self._bad(name, value, f"a whole number of at least {minimum}")
        return number

    def seconds(self, name: str, default: float, *, minimum: float = 0.1) -> float:
        """A duration in seconds; a decimal point is allowed (``POLL_INTERVAL=0.5``)."""
        return self.number(name, default, minimum=minimum, what="a number of seconds")

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, what: str = "a number"
    ) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self._bad(name, value, what) from None
        if not number >= minimum:  # also refuses NaN
            raise self._bad(name, value, f"{what} of at least {minimum:g}")
        return number

    def comma_list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: str, schemes: tuple[str, ...], default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise self._bad(name, value, f"a URL starting with {' or '.join(schemes)}://")
        return value

    def time_zone(self, name: str, default: str) -> str:
        value = self._raw(name) or default
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self._bad(name, value, "an IANA time zone such as Europe/Paris") from None
        return value

    def file(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not os.path.isfile(value):
            raise self._bad(name, value, "the path of a readable file")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._raw(name) or default
        if value not in choices:
            raise self._bad(name, value, "one of " + ", ".join(choices))
        return value

    def networks(
        self, name: str, default: list[str]
    ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Comma-separated addresses or CIDR blocks (``10.0.0.0/8,::1``); an address is a /32
        (or /128)."""
        networks = []
        for item in self.comma_list(name, default):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise self._bad(
                    name, item, "IP addresses or CIDR blocks such as 10.0.0.0/8, comma-separated"
                ) from None
        return networks
