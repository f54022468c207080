"""Reading CWork's JSON: lenient where the meaning is clear, loud where it is not.

CWork's answers (and its documentation's examples) carry trailing commas, empty values
(``"Phone": ,``), ``//`` comments, a Windows folder ending in a backslash (``"random\\",``) and a
doubly wrapped object (``{ { ... } }``). ``loads`` repairs those, logging what it repaired, and
raises ``CWorkProtocolError`` for anything else. ``Fields`` then reads one record with the
conversions CWork needs: numbers as strings, ``"1"``/``"0"`` flags, key casing variants, aware
dates, ``#RRGGBB`` colours.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import CWorkProtocolError

logger = logging.getLogger("cwork.client")

_COLOR_RE = re.compile(r"^#?([0-9A-Fa-f]{6})$")
_SHORT_COLOR_RE = re.compile(r"^#?([0-9A-Fa-f]{3})$")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off", ""}


def loads(body: bytes | str, *, endpoint: str = "") -> Any:
    """Parse a JSON answer, repairing the known kinds of invalid JSON."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise CWorkProtocolError("empty answer where JSON was expected", endpoint=endpoint)
    try:
        return json.loads(text)
    except ValueError:
        pass
    repaired, repairs = _repair(text)
    try:
        value = json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise CWorkProtocolError(
            f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            body=text,
            endpoint=endpoint,
        ) from None
    logger.warning(
        "repaired invalid JSON from CWork%s: %s",
        f" ({endpoint})" if endpoint else "",
        ", ".join(repairs),
    )
    return value


def _repair(text: str) -> tuple[str, list[str]]:
    """One pass over the text outside strings, fixing what has one clear meaning."""
    out: list[str] = []
    repairs: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end, fixed = _scan_string(text, i)
            out.append(fixed or text[i:end])
            if fixed:
                repairs.append("backslash before a closing quote")
            i = end
            continue
        if ch == "/" and text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            repairs.append("comment removed")
            continue
        if ch == ",":
            nxt = _next_significant(text, i + 1)
            if nxt < n and text[nxt] in "}]":
                repairs.append("trailing comma")
                i += 1
                continue
        if ch == ":":
            nxt = _next_significant(text, i + 1)
            if nxt >= n or text[nxt] in ",}":
                out.append(": null")
                repairs.append("empty value read as null")
                i += 1
                continue
        out.append(ch)
        i += 1
    repaired = "".join(out)
    unwrapped = _unwrap_double_braces(repaired)
    if unwrapped is not None:
        repaired = unwrapped
        repairs.append("doubly wrapped object unwrapped")
    return repaired, repairs


def _next_significant(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        else:
            break
    return i


_CLOSING_AFTER_BACKSLASH = re.compile(r'"[ \t]*[,}\]][ \t]*(\r?\n|$)')


def _scan_string(text: str, start: int) -> tuple[int, str | None]:
    """End index of the string starting at ``start``; a repaired copy if one was needed.

    ``"folder\\",`` at the end of a line is a Windows path whose final backslash was not
    escaped: read as a backslash followed by the closing quote.
    """
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 < n and text[i + 1] == '"' and _CLOSING_AFTER_BACKSLASH.match(text, i + 1):
                return i + 2, text[start:i] + '\\\\"'
            i += 2
            continue
        if ch == '"':
            return i + 1, None
        i += 1
    return n, None


def _unwrap_double_braces(text: str) -> str | None:
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    inner = stripped[1:-1].strip()
    if inner.startswith("{") and inner.endswith("}"):
        try:
            json.loads(stripped)
        except ValueError:
            return inner
    return None


class Fields:
    """Typed access to one CWork record, keys matched without regard to case.

    Optional fields that cannot be read become None and are noted in ``problems`` (logged by
    the caller); a required field that is missing or unreadable raises ``CWorkProtocolError``.
    Keys never read are kept in ``extra()`` so nothing CWork sends is lost.
    """

    __slots__ = ("_by_lower", "_used", "_what", "problems", "raw")

    def __init__(self, raw: object, what: str) -> None:
        if not isinstance(raw, Mapping):
            raise CWorkProtocolError(
                f"{what}: expected an object, got {type(raw).__name__}", body=_excerpt(raw)
            )
        self.raw: Mapping[str, Any] = raw
        self._by_lower: dict[str, Any] | None = None  # built on the first miss only
        self._used: set[str] = set()
        self.problems: list[str] = []
        self._what = what

    def get(self, *names: str) -> Any:
        """The first present value among ``names`` (aliases), or None."""
        raw = self.raw
        for name in names:  # the documented spelling first: the common, cheap case
            if name in raw:
                self._used.add(name)
                return raw[name]
        for name in names:
            key = self._lower_keys().get(name.lower())
            if key is not None:
                self._used.add(key)
                return raw[key]
        return None

    def has(self, *names: str) -> bool:
        return any(name in self.raw or name.lower() in self._lower_keys() for name in names)

    def _lower_keys(self) -> dict[str, Any]:
        if self._by_lower is None:
            self._by_lower = {str(k).lower(): k for k in self.raw}
        return self._by_lower

    def _fail(self, name: str, value: Any, expected: str, required: bool) -> None:
        message = f"{self._what}.{name}: expected {expected}, got {value!r}"
        if required:
            raise CWorkProtocolError(message, body=_excerpt(self.raw))
        self.problems.append(message)

    def integer(self, *names: str, required: bool = False) -> int | None:
        value = self.get(*names)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self._fail(names[0], value, "a whole number", True)
            return None
        converted = to_int(value)
        if converted is None:
            self._fail(names[0], value, "a whole number", required)
        return converted

    def number(self, *names: str) -> float | None:
        value = self.get(*names)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            self._fail(names[0], value, "a number", False)
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            self._fail(names[0], value, "a number", False)
            return None

    def string(self, *names: str, required: bool = False) -> str | None:
        value = self.get(*names)
        if value is None:
            if required:
                self._fail(names[0], value, "a text", True)
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self._fail(names[0], value, "a text", required)
        return None

    def text(self, *names: str) -> str:
        """A text field where absent means empty (names, comments, descriptions)."""
        return self.string(*names) or ""

    def flag(self, *names: str) -> bool | None:
        value = self.get(*names)
        if value is None:
            return None
        converted = to_bool(value)
        if converted is None:
            self._fail(names[0], value, "a flag", False)
        return converted

    def datetime(self, *names: str, required: bool = False) -> datetime | None:
        value = self.get(*names)
        if value is None or value == "":
            if required:
                self._fail(names[0], value, "an ISO 8601 date", True)
            return None
        converted, note = to_datetime(value)
        if converted is None:
            self._fail(names[0], value, "an ISO 8601 date", required)
        elif note:
            self.problems.append(f"{self._what}.{names[0]}: {note}")
        return converted

    def color(self, *names: str) -> str | None:
        value = self.get(*names)
        if value is None or value == "":
            return None
        converted = to_color(value)
        if converted is None:
            self._fail(names[0], value, "a #RRGGBB colour", False)
        return converted

    def str_list(self, *names: str) -> tuple[str, ...]:
        value = self.get(*names)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list):
            return tuple(str(item) for item in value if item is not None)
        self._fail(names[0], value, "a list of texts", False)
        return ()

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.raw.items() if k not in self._used}


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def to_datetime(value: Any) -> tuple[datetime | None, str]:
    """An aware datetime, and a note when an assumption was made (no offset: UTC)."""
    if not isinstance(value, str):
        return None, ""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, ""
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), f"date {text!r} has no time zone; read as UTC"
    return parsed, ""


def to_color(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _COLOR_RE.match(text)
    if match:
        return "#" + match[1].upper()
    match = _SHORT_COLOR_RE.match(text)
    if match:
        return "#" + "".join(c * 2 for c in match[1].upper())
    return None


def format_datetime(value: datetime) -> str:
    """A query date as CWork's examples write them (UTC, milliseconds, ``Z``)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def unix_seconds(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
    return int(value.timestamp())


def _excerpt(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:300]
    except (TypeError, ValueError):
        return repr(value)[:300]
