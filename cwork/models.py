"""One typed, immutable model per CWork resource, with Python names and converted values.

Each model reads CWork's record through ``Fields`` (``from_api``): dates are aware, durations
are seconds, colours ``#RRGGBB``, flags booleans, numbers numbers. Fields CWork sends that the
model does not name are kept in ``extra``; values that could not be read are listed in
``problems`` (and the field is None) so that nothing is silently lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Self, TypeVar

from .errors import CWorkProtocolError
from .parsing import Fields, _excerpt, to_bool

logger = logging.getLogger("cwork.client")

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Model:
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    problems: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_api(cls, raw: object) -> Self:
        fields = Fields(raw, cls.__name__)
        values = cls._read(fields)
        if fields.problems:
            logger.warning("CWork %s record read with problems: %s", cls.__name__, fields.problems)
        return cls(**values, extra=fields.extra(), problems=tuple(fields.problems))

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        """The model's own fields read from CWork's record (each model defines it)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record of a list that could not be read; the others were kept."""

    index: int
    reason: str
    excerpt: str


class ParsedList(list[T], Generic[T]):
    """A list of models that also says which records were rejected, and why."""

    rejected: list[Rejected]

    def __init__(self, items: Iterable[T] = (), rejected: Iterable[Rejected] = ()) -> None:
        super().__init__(items)
        self.rejected = list(rejected)


def parse_list(payload: object, reader: Callable[[object], T], what: str) -> ParsedList[T]:
    """Read each record on its own, so one bad record never hides the others."""
    if isinstance(payload, dict):
        payload = [payload]  # a lone object where a list was documented
    if not isinstance(payload, list):
        raise CWorkProtocolError(
            f"{what}: expected a list, got {type(payload).__name__}", body=_excerpt(payload)
        )
    result: ParsedList[T] = ParsedList()
    for index, raw in enumerate(payload):
        try:
            result.append(reader(raw))
        except CWorkProtocolError as exc:
            result.rejected.append(Rejected(index, str(exc), _excerpt(raw)))
    if result.rejected:
        logger.warning(
            "CWork %s: %d of %d records rejected: %s",
            what,
            len(result.rejected),
            len(payload),
            "; ".join(r.reason for r in result.rejected[:5]),
        )
    return result


def unwrap_single(payload: object, what: str) -> object:
    """CWork wraps some single objects in a one-item list (``/orders/{id}``)."""
    if isinstance(payload, list):
        if len(payload) == 1:
            return payload[0]
        raise CWorkProtocolError(
            f"{what}: expected one object, got a list of {len(payload)}", body=_excerpt(payload)
        )
    return payload


# --- users and groups -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Model):
    handle: int
    login: str
    name: str
    mail: str
    phone: str
    group: str
    group_id: int | None
    visible: bool | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "handle": f.integer("Handle", required=True),
            "login": f.text("Login"),
            "name": f.text("Name"),
            "mail": f.text("Mail"),
            "phone": f.text("Phone"),
            "group": f.text("Group"),
            "group_id": f.integer("GroupID", "GroupId"),
            "visible": f.flag("Visible"),
        }


#: Group keys that are not permission flags (lower case: CWork's casing varies).
_GROUP_NON_FLAGS = {
    "groupid",
    "groupname",
    "handle",
    "name",
    "scenarioname",
    "statusfilter",
    "statuscanchange",
    "stationallow",
    "statusnotcertif",
    "usecwo",
    "usecti",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Group(Model):
    group_id: int
    name: str
    scenario_name: str
    #: Every ``Can…`` permission and other flag of the group, by CWork's name.
    permissions: dict[str, bool]
    status_filter: tuple[str, ...]
    status_can_change: tuple[str, ...]
    station_allow: tuple[str, ...]
    status_not_certif: tuple[str, ...]
    uses_dnc: bool | None
    uses_prod: bool | None

    def can(self, permission: str) -> bool:
        """``group.can("ChangeState")`` or ``group.can("CanChangeState")``."""
        name = permission if permission.startswith("Can") else f"Can{permission}"
        return self.permissions.get(name, False)

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        permissions: dict[str, bool] = {}
        for key, value in list(f.raw.items()):
            if key.lower() in _GROUP_NON_FLAGS:
                continue
            if not key.startswith("Can") and to_bool(value) is None:
                continue  # not a flag (a field of a newer CWork): kept in ``extra``
            flag = f.flag(key)
            if flag is not None:
                permissions[key] = flag
        return {
            "group_id": f.integer("GroupId", "GroupID", "Handle", required=True),
            "name": f.text("GroupName", "Name"),
            "scenario_name": f.text("ScenarioName"),
            "permissions": permissions,
            "status_filter": f.str_list("StatusFilter"),
            "status_can_change": f.str_list("StatusCanChange"),
            "station_allow": f.str_list("StationAllow"),
            "status_not_certif": f.str_list("StatusNotCertif"),
            "uses_dnc": f.flag("UseCwo"),
            "uses_prod": f.flag("UseCti"),
        }


def parse_groups(payload: object) -> ParsedList[Group]:
    """``/groups`` and ``/groups/{id}`` both answer ``{"Groups": [...]}``."""
    if isinstance(payload, dict) and Fields(payload, "Groups").has("Groups"):
        payload = Fields(payload, "Groups").get("Groups")
    return parse_list(payload, Group.from_api, "groups")


# --- stations and states --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Station(Model):
    handle: int
    name: str
    description: str
    disabled: bool
    dnc_mode: bool | None
    mdc_mode: bool | None
    workshop: str
    dnc_group: str
    mdc_groups: tuple[str, ...]

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "handle": f.integer("Handle", required=True),
            "name": f.string("Name", required=True),
            "description": f.text("Description"),
            "disabled": bool(f.flag("Disabled")),
            "dnc_mode": f.flag("DNCMode"),
            "mdc_mode": f.flag("MDCMode"),
            "workshop": f.text("Workshop"),
            "dnc_group": f.text("DNCGroup"),  # also "DNCgroup": keys match without case
            "mdc_groups": f.str_list("MDCGroups"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class State(Model):
    handle: int
    name: str
    color: str | None
    oee_category: int | None
    parent_handle: int | None
    close_day: bool | None
    prod_percent: bool | None
    use_percent: bool | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "handle": f.integer("Handle", required=True),
            "name": f.text("Name"),
            "color": f.color("Color"),
            # The doc's attribute table calls the category "TPM"; its examples "OEECategory".
            "oee_category": f.integer("OEECategory", "TPM"),
            "parent_handle": f.integer("ParentHandle"),
            "close_day": f.flag("CloseDay"),
            "prod_percent": f.flag("ProdPercent"),
            "use_percent": f.flag("UsePercent"),
        }

    @classmethod
    def shared(cls, raw: object) -> State:
        """The same few states repeat in every status of a poll: read each only once.

        States are immutable, so one instance can stand for every identical record.
        """
        try:
            key = tuple(raw.items()) if isinstance(raw, dict) else None
            cached = _STATE_CACHE.get(key) if key is not None else None
        except TypeError:  # an unhashable value (a nested object): read it afresh
            key = cached = None
        if cached is None:
            cached = cls.from_api(raw)
            if key is not None and not cached.problems:
                if len(_STATE_CACHE) >= _STATE_CACHE_SIZE:
                    _STATE_CACHE.clear()
                _STATE_CACHE[key] = cached
        return cached


_STATE_CACHE: dict[tuple[Any, ...], State] = {}
_STATE_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm(Model):
    code: str
    message: str
    start: datetime
    end: datetime | None = None

    @property
    def active(self) -> bool:
        return self.end is None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "code": f.string("Code", required=True),
            "message": f.text("Message"),
            "start": f.datetime("StartDate", required=True),
            "end": f.datetime("EndDate"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramRun(Model):
    name: str
    context: str
    start: datetime
    end: datetime | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "name": f.string("Name", required=True),
            "context": f.text("Context"),
            "start": f.datetime("StartDate", required=True),
            "end": f.datetime("EndDate"),
        }


def _program_name(value: object) -> str | None:
    """``{"Name": "PGM001"}`` since v1.11; a bare name before it."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        name = Fields(value, "Program").string("Name")
        return name or None
    raise CWorkProtocolError(f"program: expected an object or a name, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StationStatus(Model):
    station_id: int | None
    state: State
    last_top: datetime | None
    comment: str
    reference: str
    order: str
    job: str
    #: The running job's reference cycle time, in seconds.
    job_cycle_time: int | None
    #: The number of parts to make for the running job (CWork's ``PartCount``).
    part_target: int | None
    alarms: tuple[Alarm, ...]
    running_program: str | None
    selected_program: str | None
    total_parts: int | None
    parts_since_reset: int | None

    @property
    def job_cycle(self) -> timedelta | None:
        return None if self.job_cycle_time is None else timedelta(seconds=self.job_cycle_time)

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        raw_state = f.get("State")
        if raw_state is None:
            raise CWorkProtocolError("StationStatus.State is missing", body=_excerpt(f.raw))
        alarms = parse_list(f.get("Alarms") or [], Alarm.from_api, "status alarms")
        for rejected in alarms.rejected:
            f.problems.append(f"alarm {rejected.index} unreadable: {rejected.reason}")
        return {
            "station_id": f.integer("Handle", "StationId", "CNCHandle"),
            "state": State.shared(raw_state),
            "last_top": f.datetime("LastTop"),
            "comment": f.text("Comment"),
            "reference": f.text("Reference"),
            "order": f.text("Order"),
            "job": f.text("Job"),
            "job_cycle_time": f.integer("JobCycleTime"),
            "part_target": f.integer("PartCount"),
            "alarms": tuple(alarms),
            "running_program": _program_name(f.get("RunningProgram")),
            "selected_program": _program_name(f.get("SelectedProgram")),
            "total_parts": f.integer("TotalParts"),
            "parts_since_reset": f.integer("PartsSinceReset"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChange(Model):
    """CWork's answer to a state change, replacement or forced auto state."""

    state: State
    last_top: datetime | None
    comment: str

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        raw_state = f.get("State")
        if raw_state is None:
            raise CWorkProtocolError("StateChange.State is missing", body=_excerpt(f.raw))
        return {
            "state": State.shared(raw_state),
            "last_top": f.datetime("LastTop"),
            "comment": f.text("Comment"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Top(Model):
    """One interval of a station's state history."""

    station_id: int
    state_handle: int
    start: datetime
    end: datetime | None
    comment: str
    duration: int | None
    #: Position in the requested list; it changes from page to page, so never an identity.
    position: int | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "station_id": f.integer("topcnchandlefield", required=True),
            "state_handle": f.integer("topstatehandlefield", required=True),
            "start": f.datetime("topstartdatefield", required=True),
            "end": f.datetime("topenddatefield"),
            "comment": f.text("topcommentfield"),
            "duration": f.integer("topdurationfield"),
            "position": f.integer("topidentifier"),
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: ParsedList[T]
    has_more: bool


def parse_page(payload: object, key: str, reader: Callable[[object], T]) -> Page[T]:
    f = Fields(payload, key)
    has_more = f.flag("Has_more", "HasMore")
    if has_more is None:
        raise CWorkProtocolError(f"{key} page: Has_more is missing", body=_excerpt(payload))
    return Page(parse_list(f.get(key) or [], reader, key.lower()), has_more)


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiTimes(Model):
    at: int | None
    ot: int | None
    ppt: int | None
    rt: int | None
    nrt: int | None
    fpt: int | None
    ft: int | None
    mtbf: int | None
    mttr: int | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            name: f.integer(name.upper()) for name in cls.__dataclass_fields__ if len(name) <= 4
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiRates(Model):
    """Rates as fractions (0.68 for 68 %), as CWork's example answers them."""

    teep: float | None
    gee: float | None
    oee: float | None
    performance: float | None
    quality: float | None
    availability: float | None
    requisition: float | None
    load: float | None
    involvement: float | None
    hardware_availability: float | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        names = {
            "teep": "TEEP",
            "gee": "GEE",
            "oee": "OEE",
            "performance": "Performance",
            "quality": "Quality",
            "availability": "Availability",
            "requisition": "Requisition",
            "load": "Load",
            "involvement": "Involvement",
            "hardware_availability": "HardwareAvailability",
        }
        return {attr: f.number(key) for attr, key in names.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class StationKpi(Model):
    times: KpiTimes
    rates: KpiRates

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "times": KpiTimes.from_api(f.get("Times") or {}),
            "rates": KpiRates.from_api(f.get("Rates") or {}),
        }


# --- documents and versions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Document(Model):
    document_id: int
    alias_of: int | None
    reference: str
    extension: str
    folder: str
    station_id: int | None
    display_status: str
    display_index: str
    display_size: int | None
    emergency: int | None
    created: datetime | None
    modified: datetime | None
    custom: tuple[str, str, str, str, str]
    protected: bool | None
    archived: bool | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        alias = f.integer("DocumentIdAlias")
        return {
            "document_id": f.integer("DocumentId", required=True),
            "alias_of": alias or None,
            "reference": f.text("Reference"),
            "extension": f.text("Extension"),
            "folder": f.text("Folder"),
            "station_id": f.integer("StationId"),
            "display_status": f.text("DisplayStatus"),
            "display_index": f.text("DisplayIndex"),
            "display_size": f.integer("DisplaySize"),
            "emergency": f.integer("Emergency"),
            "created": f.datetime("CDate"),
            "modified": f.datetime("MDate"),
            "custom": tuple(f.text(f"Custom{n}") for n in range(1, 6)),
            "protected": f.flag("Protected"),
            "archived": f.flag("Archived"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentFields(Model):
    """Labels of document fields in the user's scenario (``/documents/customFields``)."""

    labels: dict[str, str]

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {"labels": {key: f.text(key) for key in list(f.raw)}}


@dataclass(frozen=True, slots=True)
class VersionFile:
    """A version's content copied to CWork's exchange folder (deleted after 10 min)."""

    name: str
    md5: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Version(Model):
    version_id: int
    document_id: int | None
    status: str
    primary_index: str
    secondary_index: str
    created: datetime | None
    modified: datetime | None
    received: datetime | None
    sent: datetime | None
    comment: str
    size: int | None
    file: VersionFile | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        raw_file = f.get("File")
        file = None
        if isinstance(raw_file, dict) and raw_file:
            ff = Fields(raw_file, "Version.File")
            file = VersionFile(ff.text("url", "File", "Name"), ff.text("md5"))
        return {
            "version_id": f.integer("VersionId", required=True),
            "document_id": f.integer("DocumentId"),
            "status": f.text("Status"),
            "primary_index": f.text("PrimaryIndex"),
            "secondary_index": f.text("SecondaryIndex"),
            "created": f.datetime("CDate"),
            "modified": f.datetime("MDate"),
            "received": f.datetime("RXDate"),
            "sent": f.datetime("TXDate"),
            "comment": f.text("Comment"),
            "size": f.integer("Size"),
            "file": file,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Certification(Model):
    comments: str
    new_status: str
    version_id: int | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "comments": f.text("Comments"),
            "new_status": f.text("NewStatus"),
            "version_id": f.integer("VersionId"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult(Model):
    """The answer to an asynchronous send; a synchronous send answers nothing (``[]``)."""

    guid: str
    time_tag: str
    status: str

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {"guid": f.text("GUID"), "time_tag": f.text("TimeTag"), "status": f.text("Status")}


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroResult(Model):
    status_code: int | None
    status_message: str
    #: Details of the last failed deletion, by CWork's names (FileName, ErrorCode, ...).
    failure: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.status_code in (None, 0)

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        status = Fields(f.get("MacroStatus") or {}, "MacroStatus")
        failure = f.get("FileDeleteStatusDetail")
        return {
            "status_code": status.integer("StatusCode"),
            "status_message": status.text("StatusMessage"),
            "failure": failure if isinstance(failure, dict) else None,
        }


# --- orders and operations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Order(Model):
    order_id: int
    name: str
    created: datetime | None
    description: str
    part_reference: str
    client: str
    #: -1 no state, 0 start, 1 resuming, 2 stop, 3 pause.
    current_state: int | None
    valid: bool | None
    archived: bool | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "order_id": f.integer("OrderId", required=True),
            "name": f.text("Name"),
            "created": f.datetime("CreationDate"),
            "description": f.text("Description"),
            "part_reference": f.text("PartReference"),
            "client": f.text("Client"),
            "current_state": f.integer("CurrentState"),
            "valid": f.flag("Valid"),
            "archived": f.flag("Archived"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation(Model):
    operation_id: int
    order_id: int | None
    name: str
    created: datetime | None
    description: str
    station_id: int | None
    document_id: int | None
    current_state: int | None
    parts_to_make: int | None
    parts_made: int | None
    parts_per_cycle: int | None
    #: Reference cycle time in seconds.
    cycle_time: int | None

    @classmethod
    def _read(cls, f: Fields) -> dict[str, Any]:
        return {
            "operation_id": f.integer("OperationId", required=True),
            "order_id": f.integer("OrderId"),
            "name": f.text("Name"),
            "created": f.datetime("CreationDate"),
            "description": f.text("Description"),
            "station_id": f.integer("CNCId"),
            "document_id": f.integer("DocumentId"),
            "current_state": f.integer("CurrentState"),
            "parts_to_make": f.integer("PartsToMake"),
            "parts_made": f.integer("PartsMade"),
            "parts_per_cycle": f.integer("PartsPerCycle"),
            "cycle_time": f.integer("CycleTime"),
        }


@dataclass(frozen=True, slots=True)
class StationImage:
    content_type: str
    data: bytes
