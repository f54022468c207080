"""The CWork API client: every endpoint of the documentation, typed, versioned and bounded.

>>> with CWorkClient("https://cwork.local:8443", api_key="...", fingerprint="AB:CD:...") as cw:
...     for status in cw.station_statuses():
...         print(status.station_id, status.state.name, status.parts_since_reset)

Reads are retried (bounded, backoff with jitter) after transport failures and transient server
errors; writes never are. Every call has an overall deadline, because httpx's timeouts apply
per read and a trickling answer would otherwise never time out.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import httpx

from . import tls
from .errors import (
    CWorkAPIError,
    CWorkConnectionError,
    CWorkError,
    CWorkProtocolError,
    CWorkTimeout,
    CWorkTLSError,
    CWorkTransportError,
    CWorkVersionError,
    RemoteDeletionFailed,
    VersionNotAvailable,
)
from .models import (
    Alarm,
    Certification,
    Document,
    DocumentFields,
    Group,
    MacroResult,
    Operation,
    Order,
    Page,
    ParsedList,
    ProgramRun,
    Rejected,
    SendResult,
    State,
    StateChange,
    Station,
    StationImage,
    StationKpi,
    StationStatus,
    Top,
    User,
    Version,
    parse_groups,
    parse_list,
    parse_page,
    unwrap_single,
)
from .parsing import Fields, format_datetime, loads, unix_seconds
from .versions import (
    ENDPOINTS,
    KNOWN_VERSIONS,
    NEWEST,
    PAGE_CAPS,
    REQUEST_FIELDS_SINCE,
    ApiVersion,
    Endpoint,
)

logger = logging.getLogger("cwork.client")

T = TypeVar("T")

#: Retry policy for reads, in one place.
DEFAULT_RETRIES = 2
#: Seconds before a call the detected version lacks makes the client ask the server again.
ASK_AGAIN_AFTER = 60.0
BACKOFF_BASE = 0.25
BACKOFF_CAP = 4.0
#: HTTP statuses and CWork codes worth one more try for a read: the server or the path to it
#: hiccuped, the request itself was fine.
RETRYABLE_STATUSES = frozenset({502, 503, 504})
RETRYABLE_CODES = frozenset({1012, 4000})

USER_AGENT = "cwork-dashboard/0.1 (+httpx)"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``deadline`` bounds the whole call: connection, every read, every retry."""

    connect: float = 5.0
    read: float = 10.0
    deadline: float = 30.0


@dataclass(frozen=True, slots=True)
class DocumentToSend:
    name: str
    extension: str
    source_folder: str | None = None


class CWorkClient:
    """A synchronous client for one CWork server (one API key).

    ``api_version`` is the version asked for (default: the newest the documentation names).
    Unless ``server_version`` is given, the first call asks the server which versions it
    answers, once, and later calls that need a newer version fail with ``CWorkVersionError``
    without being sent. ``transport`` replaces the network (the simulator in-process, or a
    recorded answer in tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        api_version: str | ApiVersion = NEWEST,
        server_version: str | ApiVersion | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        fingerprint: str | None = None,
        timeouts: Timeouts | None = None,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("an API key is required (CWork user's key, from its user panel)")
        self.base_url = base_url.rstrip("/")
        self.api_version = _as_version(api_version)
        self._server_version = _as_version(server_version) if server_version else None
        #: A version given by the caller is kept; a detected one is asked again when a call
        #: needs more (see ``ASK_AGAIN_AFTER``).
        self._version_given = server_version is not None
        self._monotonic = monotonic
        self._detected_at = monotonic()
        self._detecting = threading.Lock()
        self.timeouts = timeouts or Timeouts()
        self.retries = max(0, retries)
        self._sleep = sleep
        self._random = random.Random()  # noqa: S311  (jitter, not secrets)
        verify_arg: ssl.SSLContext | bool = True
        if base_url.startswith("https:"):
            verify_arg = tls.ssl_context(verify=verify, ca_file=ca_file, fingerprint=fingerprint)
        elif ca_file or fingerprint:
            raise ValueError("a CA file or a fingerprint needs an https:// CWork URL")
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(api_key, ""),
            headers={"User-Agent": USER_AGENT},
            verify=verify_arg,
            transport=transport,
            timeout=httpx.Timeout(self.timeouts.read, connect=self.timeouts.connect),
            follow_redirects=False,
        )

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CWorkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- versions ---------------------------------------------------------------------------

    @property
    def server_version(self) -> ApiVersion:
        """The version calls are made with: the newest both sides speak (asks once)."""
        if self._server_version is None:
            with self._detecting:  # threads sharing the client ask once between them
                if self._server_version is None:
                    self._server_version = self.detect_version()
        return min(self._server_version, self.api_version)

    @property
    def known_server_version(self) -> ApiVersion | None:
        """The server's version if already known (given or detected), without asking."""
        return self._server_version

    def detect_version(self) -> ApiVersion:
        """Ask the server which API version it answers, newest first (a few cheap requests).

        ``GET /states`` exists since v1.0, so its answer tells only whether the version is
        available: 1002 means it is not.
        """
        candidates = [v for v in KNOWN_VERSIONS if v <= self.api_version]
        low, high = 0, len(candidates) - 1
        best: ApiVersion | None = None
        while low <= high:  # versions are cumulative: binary search for the newest accepted
            middle = (low + high) // 2
            try:
                self._send(ENDPOINTS["states"], candidates[middle], path="/states")
            except VersionNotAvailable:
                high = middle - 1
            else:
                best = candidates[middle]
                low = middle + 1
        if best is None:
            raise CWorkVersionError("any endpoint", self.api_version, "none known")
        logger.info("CWork server answers API v%s", best)
        self._server_version = best
        self._detected_at = self._monotonic()
        return best

    def _may_ask_again(self) -> bool:
        """CWork may have been upgraded since the version was detected, or the detection ran
        while a fault refused versions the server has: a call the detected version lacks asks
        the server again, at most once per ``ASK_AGAIN_AFTER``, never for a given version."""
        if self._version_given or self.api_version <= (self._server_version or self.api_version):
            return False
        return self._monotonic() - self._detected_at >= ASK_AGAIN_AFTER

    def _ask_again(self) -> ApiVersion:
        with self._detecting:
            if self._may_ask_again():
                self._detected_at = self._monotonic()  # a failed detection waits its turn too
                self.detect_version()  # keeps the version it had if CWork cannot say
        return self.server_version

    def _version_for(self, endpoint: Endpoint) -> ApiVersion:
        """The version to call ``endpoint`` with, asking the server again if it lacks it."""
        version = self.server_version
        if endpoint.since > version and self._may_ask_again():
            version = self._ask_again()
        return version

    def supports(self, endpoint_name: str) -> bool:
        endpoint = ENDPOINTS[endpoint_name]
        return endpoint.since <= self._version_for(endpoint)

    # --- the one place requests are made ----------------------------------------------------

    def _call(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        raw: bool = False,
        **path_params: Any,
    ) -> Any:
        endpoint = ENDPOINTS[name]
        version = self._version_for(endpoint)
        if endpoint.since > version:
            raise CWorkVersionError(endpoint.name, endpoint.since, version)
        _check_request_fields(endpoint, version, params, json)
        path = endpoint.url(**path_params)
        try:
            return self._send(endpoint, version, path=path, params=params, json=json, raw=raw)
        except VersionNotAvailable:
            # The server was downgraded since we asked: ask again, once, and retry if the call
            # still exists there (a 1002 means nothing was done, so this is safe for writes).
            previous = self._server_version
            self._server_version = None
            version = self.server_version
            if version == previous or endpoint.since > version:
                raise
            return self._send(endpoint, version, path=path, params=params, json=json, raw=raw)

    def _send(
        self,
        endpoint: Endpoint,
        version: ApiVersion,
        *,
        path: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        raw: bool = False,
    ) -> Any:
        deadline = time.monotonic() + self.timeouts.deadline
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        attempts = 1 + (self.retries if endpoint.idempotent else 0)
        for attempt in range(1, attempts + 1):
            try:
                response, body = self._exchange(endpoint, version, path, query, json, deadline)
                if response.is_success:
                    if raw:
                        return body, response.headers.get("content-type", "")
                    return _read_success(body, response, endpoint.name)
                raise _error_from(response, body, endpoint.name)
            except (CWorkTransportError, CWorkAPIError) as exc:
                if attempt == attempts or not _worth_retrying(exc):
                    raise
                pause = self._backoff(attempt)
                if time.monotonic() + pause >= deadline:
                    raise
                logger.info(
                    "retrying %s in %.2fs after attempt %d failed: %s",
                    endpoint.name,
                    pause,
                    attempt,
                    exc,
                )
                self._sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, so many clients do not retry in step."""
        return self._random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))

    def _exchange(
        self,
        endpoint: Endpoint,
        version: ApiVersion,
        path: str,
        query: dict[str, str],
        json: Any,
        deadline: float,
    ) -> tuple[httpx.Response, bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CWorkTimeout(f"{endpoint.name}: deadline passed", endpoint=endpoint.name)
        timeout = httpx.Timeout(
            min(self.timeouts.read, remaining), connect=min(self.timeouts.connect, remaining)
        )
        request = self._http.build_request(
            endpoint.method,
            path,
            params=query,
            json=json,
            headers={"Accept": version.accept_header},
            timeout=timeout,
        )
        sent = False
        try:
            response = self._http.send(request, stream=True)
            sent = True
            try:
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise CWorkTimeout(
                            f"{endpoint.name}: no complete answer within "
                            f"{self.timeouts.deadline:g}s (the server is trickling)",
                            endpoint=endpoint.name,
                            sent=True,
                        )
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _transport_error(exc, endpoint.name, sent or _request_left(exc)) from exc
        return response, b"".join(chunks)

    # --- users and groups -------------------------------------------------------------------

    def users(self) -> ParsedList[User]:
        return parse_list(self._call("users"), User.from_api, "users")

    def user(self, user_id: int) -> User:
        return User.from_api(unwrap_single(self._call("user", user_id=user_id), "user"))

    def groups(self) -> ParsedList[Group]:
        return parse_groups(self._call("groups"))

    def group(self, group_id: int) -> Group:
        groups = parse_groups(self._call("group", group_id=group_id))
        if len(groups) != 1:
            raise CWorkProtocolError(f"group {group_id}: expected one group, got {len(groups)}")
        return groups[0]

    # --- stations ---------------------------------------------------------------------------

    def stations(self) -> ParsedList[Station]:
        return parse_list(self._call("stations"), Station.from_api, "stations")

    def station(self, station_id: int) -> Station:
        return Station.from_api(unwrap_single(self._call("station", station_id=station_id), "st"))

    def station_has_image(self, station_id: int) -> bool:
        answer = Fields(self._call("station_has_image", station_id=station_id), "hasimg")
        return bool(answer.flag("Hasimage", "HasImage"))

    def station_image(self, station_id: int) -> StationImage:
        """The station's picture (CWork sends a default one when none is linked)."""
        body, content_type = self._call_binary(
            "station_image", {"json": "false"}, station_id=station_id
        )
        if not content_type.startswith("image/"):
            raise CWorkProtocolError(
                f"station image: expected an image, got {content_type!r}", body=body
            )
        return StationImage(content_type, body)

    def station_kpi(
        self, station_id: int, start: datetime, end: datetime | None = None
    ) -> StationKpi:
        params = {"dstart": format_datetime(start), "dend": _optional_date(end)}
        return StationKpi.from_api(self._call("station_kpi", params=params, station_id=station_id))

    def running_programs(
        self, station_id: int, start: datetime, end: datetime | None = None
    ) -> ParsedList[ProgramRun]:
        return self._period_list("running_programs", ProgramRun, station_id, start, end)

    def selected_programs(
        self, station_id: int, start: datetime, end: datetime | None = None
    ) -> ParsedList[ProgramRun]:
        return self._period_list("selected_programs", ProgramRun, station_id, start, end)

    def station_alarms(
        self, station_id: int, start: datetime, end: datetime | None = None
    ) -> ParsedList[Alarm]:
        return self._period_list("station_alarms", Alarm, station_id, start, end)

    def _period_list(
        self, name: str, model: Any, station_id: int, start: datetime, end: datetime | None
    ) -> ParsedList[Any]:
        params = {"dstart": format_datetime(start), "dend": _optional_date(end)}
        return parse_list(
            self._call(name, params=params, station_id=station_id), model.from_api, name
        )

    def station_protocol(self, station_id: int) -> str:
        answer = Fields(self._call("station_protocol", station_id=station_id), "protocol")
        return answer.text("message", "Protocol")

    # --- live status ------------------------------------------------------------------------

    def station_status(self, station_id: int) -> StationStatus:
        payload = unwrap_single(self._call("station_status", station_id=station_id), "status")
        status = StationStatus.from_api(payload)
        if status.station_id is None:  # the per-station form does not repeat the handle
            status = _with_station(status, station_id)
        return status

    def station_statuses(self, *, fallback: bool = True) -> ParsedList[StationStatus]:
        """Every station's status: one request from v1.12, else one per station.

        With ``fallback`` False, an older server raises ``CWorkVersionError`` instead. Records
        (or, per station, requests) that fail land in ``rejected`` and never hide the others.
        """
        if self.supports("station_statuses") or not fallback:
            payload = self._call("station_statuses")
            return parse_list(payload, _status_of_a_station, "station statuses")
        return self._statuses_one_by_one()

    def _statuses_one_by_one(self) -> ParsedList[StationStatus]:
        """One request per station; a station that fails is reported, the others kept.

        If every station failed for want of an answer, CWork itself is unreachable: that is
        raised, not reported as N separate rejections.
        """
        result: ParsedList[StationStatus] = ParsedList()
        stations = self.stations()
        unreachable: CWorkTransportError | None = None
        for index, station in enumerate(stations):
            try:
                result.append(self.station_status(station.handle))
            except CWorkVersionError:
                raise
            except CWorkError as exc:
                reason = f"station {station.handle} ({station.name}): {exc}"
                result.rejected.append(Rejected(index, reason, ""))
                if isinstance(exc, CWorkTransportError):
                    unreachable = exc
        if stations and not result and unreachable is not None:
            raise unreachable
        return result

    # --- states and their changes -----------------------------------------------------------

    def states(self) -> ParsedList[State]:
        return parse_list(self._call("states"), State.from_api, "states")

    def state(self, state_id: int) -> State:
        return State.from_api(unwrap_single(self._call("state", state_id=state_id), "state"))

    def change_state(self, station_id: int, state: int, comment: str | None = None) -> StateChange:
        """Start a new state now. Never retried: on a timeout, re-read the station."""
        body = _without_none({"State": state, "Comment": comment})
        return StateChange.from_api(self._call("change_state", json=body, station_id=station_id))

    def replace_current_state(
        self, station_id: int, state: int, comment: str | None = None
    ) -> StateChange:
        """Relabel the current state. Without a comment, a merge with the previous top joins
        both comments ("one + two") and no merge keeps the comment (CWork's rule)."""
        body = _without_none({"State": state, "Comment": comment})
        payload = self._call("replace_current_state", json=body, station_id=station_id)
        return StateChange.from_api(payload)

    def force_auto_state(self, station_id: int) -> StateChange:
        payload = self._call("force_auto_state", json={}, station_id=station_id)
        return StateChange.from_api(payload)

    def reset_part_count(self, station_id: int, initial_count: int) -> None:
        if initial_count < 0:
            raise ValueError("the initial part count cannot be negative")
        self._call("reset_part_count", json={"PartCount": initial_count}, station_id=station_id)

    # --- history ----------------------------------------------------------------------------

    def tops_page(
        self,
        station_id: int,
        start: datetime,
        end: datetime,
        *,
        before: int = 0,
        after: int = 0,
        limit: int | None = None,
        page: int = 1,
    ) -> Page[Top]:
        params = {
            "station": station_id,
            "startdate": unix_seconds(start),
            "enddate": unix_seconds(end),
            "nbtopbefore": before or None,
            "nbtopafter": after or None,
            "limit": _capped(limit, "tops"),
            "page": page,
        }
        return parse_page(self._call("tops", params=params), "Tops", Top.from_api)

    def iter_tops(
        self, station_id: int, start: datetime, end: datetime, *, page_size: int | None = None
    ) -> Iterator[Top]:
        """Every top starting in [start, end), page by page, fetched as they are consumed."""
        yield from _walk_pages(
            lambda page: self.tops_page(station_id, start, end, limit=page_size, page=page),
            "tops",
        )

    # --- documents and versions (DNC) -------------------------------------------------------

    def document(self, document_id: int) -> Document:
        payload = unwrap_single(self._call("document", doc_id=document_id), "document")
        return Document.from_api(payload)

    def documents_page(
        self,
        *,
        reference: str | None = None,
        extension: str | None = None,
        station_id: int | None = None,
        include_group: bool | None = None,
        recycle_bin: str | None = None,
        limit: int | None = None,
        page: int = 1,
    ) -> Page[Document]:
        if recycle_bin not in (None, "exclude", "include", "only"):
            raise ValueError("recycle_bin is one of exclude, include, only")
        params = {
            "reference": reference,
            "extension": extension,
            "station": station_id,
            "include_group": include_group,
            "recycle_bin": recycle_bin,
            "limit": _capped(limit, "documents"),
            "page": page,
        }
        return parse_page(self._call("documents", params=params), "Documents", Document.from_api)

    def iter_documents(self, **filters: Any) -> Iterator[Document]:
        yield from _walk_pages(lambda page: self.documents_page(page=page, **filters), "documents")

    def document_custom_fields(self) -> DocumentFields:
        return DocumentFields.from_api(self._call("document_custom_fields"))

    def create_document(
        self,
        reference: str,
        station_id: int,
        *,
        extension: str | None = None,
        folder: str | None = None,
        custom: Sequence[str | None] = (),
        protected: bool | None = None,
        archived: bool | None = None,
    ) -> Document:
        if not reference:
            raise ValueError("a document needs a reference")
        if len(custom) > 5:
            raise ValueError("CWork has five custom fields")
        body = {
            "Reference": reference,
            "StationId": station_id,
            "Extension": extension,
            "Folder": folder,
            "Protected": protected,
            "Archived": archived,
        }
        body.update({f"Custom{n}": value for n, value in enumerate(custom, start=1)})
        payload = self._call("create_document", json=_without_none(body))
        return Document.from_api(unwrap_single(payload, "document"))

    def versions(self, document_id: int) -> ParsedList[Version]:
        return parse_list(self._call("versions", doc_id=document_id), Version.from_api, "versions")

    def version(
        self, version_id: int, *, document_id: int | None = None, include_file: bool = False
    ) -> Version:
        params = {"include_file": include_file or None}
        payload = self._version_call("version", version_id, document_id, params=params)
        return Version.from_api(unwrap_single(payload, "version"))

    def download_version(self, version_id: int, *, document_id: int | None = None) -> bytes:
        """The version's content as CWork stores it (a CNC program, usually text)."""
        params = {"json": "false"}
        body, _ = self._version_call(
            "download_version", version_id, document_id, params=params, raw=True
        )
        return body

    def certify_version(
        self,
        version_id: int,
        new_status: str,
        *,
        document_id: int | None = None,
        comments: str | None = None,
    ) -> Certification:
        """Certify a version (a GET with a body in CWork's API; a write: never retried)."""
        if not new_status:
            raise ValueError("certifying needs the new status")
        body = _without_none({"Comments": comments, "NewStatus": new_status})
        payload = self._version_call("certify_version", version_id, document_id, json=body)
        return Certification.from_api(unwrap_single(payload, "certification"))

    def submit_version(
        self,
        document_id: int,
        file_name: str,
        *,
        md5: str | None = None,
        comment: str | None = None,
    ) -> Version:
        """Submit a file already placed in CWork's exchange folder (``/Temp/API-io/``)."""
        body = _without_none({"File": file_name, "Md5": md5, "Comment": comment})
        payload = self._call("submit_version", json=body, doc_id=document_id)
        return Version.from_api(unwrap_single(payload, "version"))

    def delete_version(self, station_id: int, version_id: int) -> None:
        self._call("delete_version", json={"VersionId": str(version_id)}, station_id=station_id)

    def delete_document(self, station_id: int, document_id: int) -> None:
        self._call("delete_document", json={"DocumentId": document_id}, station_id=station_id)

    def send_document(
        self,
        station_id: int,
        name: str,
        extension: str,
        *,
        source_folder: str | None = None,
        destination_folder: str | None = None,
        override: bool | None = None,
        destination_folder_mode: str | None = None,
        asynchronous: bool | None = None,
        wait_before_status_ms: int | None = None,
    ) -> SendResult | None:
        """Send a document to the station; an asynchronous send answers its GUID and status."""
        if destination_folder_mode not in (None, "append", "override"):
            raise ValueError("destination_folder_mode is append or override")
        body = _without_none(
            {
                "DocumentName": name,
                "DocExtension": extension,
                "SourceFolder": source_folder,
                "DestinationFolder": destination_folder,
                "Override": override,
                "DestinationFolderMode": destination_folder_mode,
                "AsynchronousMode": asynchronous,
                "WaitBeforQuerySendStatus": wait_before_status_ms,  # sic
            }
        )
        payload = self._call("send", json=body, station_id=station_id)
        if not payload:
            return None
        return SendResult.from_api(unwrap_single(payload, "send"))

    def multisend(self, station_id: int, documents: Sequence[DocumentToSend]) -> None:
        if not documents:
            raise ValueError("multisend needs at least one document")
        body = {
            "Documents": [
                _without_none(
                    {
                        "DocumentName": d.name,
                        "DocExtension": d.extension,
                        "SourceFolder": d.source_folder,
                    }
                )
                for d in documents
            ]
        }
        self._call("multisend", json=body, station_id=station_id)

    def delete_remote_range(
        self,
        station_id: int,
        min_range: int,
        max_range: int,
        *,
        target_folder: str | None = None,
        prefix: str | None = None,
    ) -> MacroResult:
        """Delete the numbered programs in [min_range, max_range] on the machine itself."""
        if min_range > max_range:
            raise ValueError("min_range must not exceed max_range")
        body = _without_none(
            {
                "MinRange": min_range,
                "MaxRange": max_range,
                "TargetFolder": target_folder,
                "Prefix": prefix,
            }
        )
        payload = self._call("delete_remote_range", json=body, station_id=station_id)
        if not payload:
            return MacroResult(status_code=None, status_message="", failure=None)
        return MacroResult.from_api(payload)

    # --- orders and operations (PROD) -------------------------------------------------------

    def orders(self) -> ParsedList[Order]:
        return parse_list(self._call("orders"), Order.from_api, "orders")

    def order(self, order_id: int) -> Order:
        return Order.from_api(unwrap_single(self._call("order", order_id=order_id), "order"))

    def operations(
        self, *, station_id: int | None = None, order_id: int | None = None
    ) -> ParsedList[Operation]:
        """Operations, filtered by station, order or both.

        CWork ignores the station filter when both are given; this method sends the order
        filter and applies the station filter itself, so both hold.
        """
        params = {"order": order_id} if order_id is not None else {"cnc": station_id}
        found = parse_list(self._call("operations", params=params), Operation.from_api, "ops")
        if order_id is not None and station_id is not None:
            found[:] = [op for op in found if op.station_id == station_id]
        return found

    def operation(self, operation_id: int) -> Operation:
        payload = self._call("operation", operation_id=operation_id)
        return Operation.from_api(unwrap_single(payload, "operation"))

    # --- helpers ----------------------------------------------------------------------------

    def _version_call(
        self, name: str, version_id: int, document_id: int | None, **options: Any
    ) -> Any:
        """CWork serves a version under its document or directly (``/versions/{id}``)."""
        if document_id is None:
            return self._call(f"{name}_direct", ver_id=version_id, **options)
        return self._call(name, doc_id=document_id, ver_id=version_id, **options)

    def _call_binary(self, name: str, params: dict[str, Any], **path: Any) -> tuple[bytes, str]:
        """The raw body and its content type, for answers that are not JSON."""
        return self._call(name, params=params, raw=True, **path)


def _as_version(value: str | ApiVersion) -> ApiVersion:
    return value if isinstance(value, ApiVersion) else ApiVersion.parse(value)


def _optional_date(value: datetime | None) -> str | None:
    return None if value is None else format_datetime(value)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _capped(limit: int | None, resource: str) -> int | None:
    if limit is None:
        return None
    if limit < 1:
        raise ValueError("a page holds at least one item")
    return min(limit, PAGE_CAPS[resource])


def _check_request_fields(
    endpoint: Endpoint, version: ApiVersion, params: dict[str, Any] | None, body: Any
) -> None:
    """Refuse, before sending, a field the server's version does not know yet."""
    sent = {name for name, value in (params or {}).items() if value is not None}
    if isinstance(body, dict):
        sent |= {name for name, value in body.items() if value is not None}
    for (name, field_name), since in REQUEST_FIELDS_SINCE.items():
        if name == endpoint.name and field_name in sent and since > version:
            raise CWorkVersionError(f"{endpoint.name} with {field_name}", since, version)


def _status_of_a_station(raw: object) -> StationStatus:
    """A record of the all-stations list, which must say whose status it is."""
    status = StationStatus.from_api(raw)
    if status.station_id is None:
        raise CWorkProtocolError("status without a station Handle")
    return status


def _with_station(status: StationStatus, station_id: int) -> StationStatus:
    return replace(status, station_id=station_id)


def _walk_pages(fetch: Callable[[int], Page[T]], what: str) -> Iterator[T]:
    page_number = 1
    while True:
        page = fetch(page_number)
        yield from page.items
        if not page.has_more:
            return
        if not page.items:
            logger.warning("CWork %s: page %d is empty but says more follow", what, page_number)
            return
        page_number += 1


def _read_success(body: bytes, response: httpx.Response, endpoint: str) -> Any:
    if not body.strip():
        return None  # writes answer with an empty body or []
    payload = loads(body, endpoint=endpoint)
    if isinstance(payload, dict) and Fields(payload, "answer").has("ErrorCode"):
        # An error wrapped in a 200: treat it as the error it is.
        raise _error_from(response, body, endpoint, payload=payload)
    return payload


#: A plain-text error: the code leads ("2005: This state does not exist", "Error 2005 - ...").
#: Only at the start, and not the start of a date ("2024-03-01"): a number found anywhere in
#: an HTML error page (a year, a port) is not a CWork code.
_TEXT_CODE_RE = re.compile(
    r"\s*(?:error(?:\s*code)?\s*[:#]?\s*)?([1-4]\d{3})(?![-/.:]?\d)\s*[:\-]?\s*(.*)",
    re.IGNORECASE | re.DOTALL,
)


def _error_from(
    response: httpx.Response, body: bytes, endpoint: str, *, payload: Any = None
) -> CWorkAPIError:
    """Read CWork's error code and message leniently: the doc does not fix the shape."""
    code: int | None = None
    message = ""
    if payload is None:
        try:
            payload = loads(body, endpoint=endpoint) if body.strip() else None
        except CWorkProtocolError:
            payload = None
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, dict):
        fields = Fields(payload, "error")
        nested = fields.get("Error", "error")
        if isinstance(nested, dict):
            fields = Fields(nested, "error")
        code = fields.integer("ErrorCode", "Code", "error_code", "errorcode", "CWorkCode")
        message = fields.text("Message", "ErrorMessage", "error_message", "Description")
        if not message and isinstance(nested, str):
            message = nested
        macro = fields.get("MacroStatus")
        if code is None and isinstance(macro, dict):
            result = MacroResult.from_api(payload)
            error = RemoteDeletionFailed(
                result.status_message, http_status=response.status_code, endpoint=endpoint
            )
            error.details = result
            return error
    else:
        text = payload if isinstance(payload, str) else body.decode("utf-8", "replace").strip()
        match = _TEXT_CODE_RE.match(text[:500])
        if match and int(match[1]) in CWorkAPIError.by_code:
            code, message = int(match[1]), match[2].strip()[:300]
        else:
            message = text[:300] or response.reason_phrase
    return CWorkAPIError.for_code(
        code, message, http_status=response.status_code, endpoint=endpoint
    )


def _worth_retrying(exc: CWorkError) -> bool:
    if isinstance(exc, CWorkTLSError):
        return False  # a certificate does not fix itself between two tries
    if isinstance(exc, CWorkTransportError):
        return True
    if isinstance(exc, CWorkAPIError):
        return exc.code in RETRYABLE_CODES or (
            not exc.code and exc.http_status in RETRYABLE_STATUSES
        )
    return False


def _request_left(exc: httpx.HTTPError) -> bool:
    """Whether the request may have reached the server (its outcome is then unknown)."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _transport_error(exc: httpx.HTTPError, endpoint: str, sent: bool) -> CWorkTransportError:
    if _is_tls_failure(exc):
        return CWorkTLSError(f"{endpoint}: TLS failed: {_root_cause(exc)}", endpoint=endpoint)
    if isinstance(exc, httpx.TimeoutException):
        return CWorkTimeout(f"{endpoint}: timed out ({exc})", endpoint=endpoint, sent=sent)
    what = "could not connect" if isinstance(exc, httpx.ConnectError) else "connection failed"
    return CWorkConnectionError(
        f"{endpoint}: {what}: {_root_cause(exc)}", endpoint=endpoint, sent=sent
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(cause, ssl.SSLError) for cause in _causes(exc)) or (
        "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper()
    )


def _root_cause(exc: BaseException) -> str:
    *_, last = _causes(exc)
    return str(last) or type(last).__name__
