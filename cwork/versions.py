"""API versions and the endpoint table, shared by the client and the simulator.

CWork picks the API version from the ``Accept`` header (``application/json+v1.N``) and adds
endpoints and fields version by version; each endpoint also needs a licence module. Both facts
live here once, so the client refuses a call the server cannot answer before sending it and the
simulator gates the same calls the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import total_ordering

_VERSION_RE = re.compile(r"^v?(\d+)(?:\.(\d+))?$")
_ACCEPT_RE = re.compile(r"application/json\+v(\d+)(?:\.(\d+))?", re.IGNORECASE)


@total_ordering
@dataclass(frozen=True, slots=True)
class ApiVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        """Read ``1.12`` or ``v1.12``; a bare ``1`` means the newest 1.x the doc names."""
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise ValueError(f"not an API version: {text!r} (expected something like 1.12)")
        major, minor = int(match[1]), match[2]
        if minor is None:
            return newest_of_major(major)
        return cls(major, int(minor))

    @property
    def accept_header(self) -> str:
        return f"application/json+v{self.major}.{self.minor}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ApiVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _v(text: str) -> ApiVersion:
    major, minor = text.split(".")
    return ApiVersion(int(major), int(minor))


#: Every version the v1.9 documentation names: the version matrix stops at 1.15, but
#: ``/documents/customFields`` and ``certify`` are documented "from v1.16".
KNOWN_VERSIONS: tuple[ApiVersion, ...] = tuple(_v(f"1.{n}") for n in range(17))
NEWEST = KNOWN_VERSIONS[-1]


def newest_of_major(major: int) -> ApiVersion:
    candidates = [v for v in KNOWN_VERSIONS if v.major == major]
    if not candidates:
        raise ValueError(f"no known API version with major {major}")
    return candidates[-1]


def version_from_accept(header: str | None) -> ApiVersion | None:
    """The version an ``Accept`` header asks for, or None when it names none."""
    if not header:
        return None
    match = _ACCEPT_RE.search(header)
    if not match:
        return None
    major, minor = int(match[1]), match[2]
    if minor is None:
        try:
            return newest_of_major(major)
        except ValueError:
            return ApiVersion(major, 0)
    return ApiVersion(major, int(minor))


class License(StrEnum):
    """Licence modules; ``ANY`` means any one module grants access."""

    ANY = "any"
    MONITOR = "monitor"
    DNC = "dnc"
    PROD = "prod"


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: str
    path: str  # a template: "/stations/{station_id}/kpi"
    since: ApiVersion
    license: License
    #: Safe to send again after a transport failure (reads). CWork's ``certify`` is a GET that
    #: writes, so it is not idempotent.
    idempotent: bool

    def url(self, **params: object) -> str:
        return self.path.format(**params)

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.path)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compile(template: str) -> re.Pattern[str]:
    if template not in _PATTERNS:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
        _PATTERNS[template] = re.compile(f"^{regex}/?$")
    return _PATTERNS[template]


def _endpoint(name: str, method: str, path: str, since: str, license: License) -> Endpoint:
    idempotent = method == "GET" and not path.endswith("/certify")
    return Endpoint(name, method, path, _v(since), license, idempotent)


_ANY, _MON, _DNC, _PROD = License.ANY, License.MONITOR, License.DNC, License.PROD

#: Every endpoint of the documentation, in the documentation's order. Where a resource is
#: also reachable by a shorter path (``/versions/{ver_id}``), both are listed.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _endpoint("user", "GET", "/users/{user_id}", "1.10", _ANY),
        _endpoint("users", "GET", "/users", "1.10", _ANY),
        _endpoint("group", "GET", "/groups/{group_id}", "1.10", _ANY),
        _endpoint("groups", "GET", "/groups", "1.10", _ANY),
        _endpoint("station", "GET", "/stations/{station_id}", "1.0", _ANY),
        _endpoint("station_has_image", "GET", "/stations/{station_id}/hasimg", "1.4", _ANY),
        _endpoint("station_image", "GET", "/stations/{station_id}/img", "1.4", _ANY),
        _endpoint("stations", "GET", "/stations", "1.0", _ANY),
        _endpoint("station_kpi", "GET", "/stations/{station_id}/kpi", "1.3", _MON),
        _endpoint(
            "running_programs", "GET", "/stations/{station_id}/runningprograms", "1.11", _MON
        ),
        _endpoint(
            "selected_programs", "GET", "/stations/{station_id}/selectedprograms", "1.11", _MON
        ),
        _endpoint("station_alarms", "GET", "/stations/{station_id}/alarms", "1.6", _MON),
        _endpoint("send", "POST", "/stations/{station_id}/send/", "1.14", _DNC),
        _endpoint("multisend", "POST", "/stations/{station_id}/multisend/", "1.14", _DNC),
        _endpoint("change_state", "POST", "/stations/{station_id}/status_history", "1.9", _MON),
        _endpoint(
            "replace_current_state",
            "POST",
            "/stations/{station_id}/replace_curent_state",  # sic: the real path
            "1.14",
            _MON,
        ),
        _endpoint(
            "force_auto_state", "POST", "/stations/{station_id}/force_auto_state", "1.14", _MON
        ),
        _endpoint("state", "GET", "/states/{state_id}", "1.0", _ANY),
        _endpoint("states", "GET", "/states", "1.0", _ANY),
        _endpoint("station_status", "GET", "/station_statuses/{station_id}", "1.0", _MON),
        _endpoint("station_statuses", "GET", "/station_statuses", "1.12", _MON),
        _endpoint(
            "station_protocol", "GET", "/stations/{station_id}/returnCNCProtocol", "1.6", _MON
        ),
        _endpoint("tops", "GET", "/tops", "1.10", _MON),
        _endpoint(
            "reset_part_count",
            "POST",
            "/ResetStationPartCount/{station_id}",  # sic: the real path
            "1.13",
            _MON,
        ),
        _endpoint("document_custom_fields", "GET", "/documents/customFields", "1.16", _DNC),
        _endpoint("document", "GET", "/documents/{doc_id}", "1.3", _DNC),
        _endpoint("documents", "GET", "/documents", "1.3", _DNC),
        _endpoint("create_document", "POST", "/documents", "1.3", _DNC),
        _endpoint("version", "GET", "/documents/{doc_id}/versions/{ver_id}", "1.3", _DNC),
        _endpoint("version_direct", "GET", "/versions/{ver_id}", "1.3", _DNC),
        _endpoint(
            "download_version",
            "GET",
            "/documents/{doc_id}/versions/{ver_id}/download",
            "1.14",
            _DNC,
        ),
        _endpoint("download_version_direct", "GET", "/versions/{ver_id}/download", "1.14", _DNC),
        _endpoint(
            "certify_version", "GET", "/documents/{doc_id}/versions/{ver_id}/certify", "1.16", _DNC
        ),
        _endpoint("certify_version_direct", "GET", "/versions/{ver_id}/certify", "1.16", _DNC),
        _endpoint("versions", "GET", "/documents/{doc_id}/versions", "1.3", _DNC),
        _endpoint("submit_version", "POST", "/documents/{doc_id}/versions", "1.3", _DNC),
        _endpoint("delete_version", "POST", "/stations/{station_id}/delete_version", "1.14", _DNC),
        _endpoint(
            "delete_document", "POST", "/stations/{station_id}/delete_document", "1.14", _DNC
        ),
        _endpoint("order", "GET", "/orders/{order_id}", "1.13", _PROD),
        _endpoint("orders", "GET", "/orders", "1.13", _PROD),
        _endpoint("operation", "GET", "/operations/{operation_id}", "1.13", _PROD),
        _endpoint("operations", "GET", "/operations", "1.13", _PROD),
        _endpoint(
            "delete_remote_range", "POST", "/macros/DeleteRemoteRange/{station_id}", "1.7", _DNC
        ),
    )
}

#: Fields of a station status and the version that added them (the doc's status table).
STATUS_FIELDS_SINCE: dict[str, ApiVersion] = {
    "Comment": _v("1.1"),
    "Alarms": _v("1.6"),
    "RunningProgram": _v("1.11"),
    "SelectedProgram": _v("1.11"),
    "TotalParts": _v("1.12"),
    "PartsSinceReset": _v("1.12"),
}

#: Request fields added after their endpoint, which an older server would reject or ignore.
REQUEST_FIELDS_SINCE: dict[tuple[str, str], ApiVersion] = {
    ("send", "DestinationFolderMode"): _v("1.15"),
    ("delete_remote_range", "Prefix"): _v("1.8"),
    ("documents", "recycle_bin"): _v("1.15"),
}

#: Page size caps the doc fixes per resource (``limit`` above the cap is lowered to it).
PAGE_CAPS: dict[str, int] = {"tops": 3000, "documents": 200}


def match_endpoint(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint a request path names, with its path parameters (for the simulator)."""
    for endpoint in ENDPOINTS.values():
        if endpoint.method != method:
            continue
        match = endpoint.pattern.match(path)
        if match:
            return endpoint, match.groupdict()
    return None


def path_exists(path: str) -> bool:
    """True when some method serves this path (so a wrong method is a 1008, not a 2004)."""
    return any(e.pattern.match(path) for e in ENDPOINTS.values())
