"""CWork's HTTP API over the simulated factory: same paths, auth, versions, licences, errors.

The answers keep CWork's real quirks on purpose (numbers as strings in statuses, ``DNCgroup``
spelt two ways, single orders wrapped in a list, group flags as ``"1"``/``"0"``, fields that
appear with the API version), so the client is proven against them and not against a tidier
server than the one in the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload

from cwork.errors import ERROR_CLASSES
from cwork.versions import (
    KNOWN_VERSIONS,
    PAGE_CAPS,
    STATUS_FIELDS_SINCE,
    ApiVersion,
    Endpoint,
    License,
    match_endpoint,
    path_exists,
    version_from_accept,
)

from .dnc import DncStore, DocumentRecord, VersionRecord
from .http import SimRequest, SimResponse
from .world import AlarmRecord, ProgramRun, StateDef, StatusSnapshot, TopRecord, World, WorldError

_ALL_PERMISSIONS = [
    "CanManageTransfertHistory",
    "CanCreateDoc",
    "CanEditDoc",
    "CanModifyProperty",
    "CanProtectDoc",
    "CanArchiveDoc",
    "CanDelDoc",
    "CanDelVersion",
    "CanRenameDoc",
    "CanChangeIndexVer",
    "CanChangeComVer",
    "CanChangeStatusVer",
    "CanCertificatDoc",
    "CanImportDoc",
    "CanExportDoc",
    "CanCreateFolder",
    "CanDeleteFolder",
    "CanRenameFolder",
    "CanCreateAliasFolder",
    "CanModifColName",
    "CanSendDoc",
    "CanCustomSendDoc",
    "CanCopyDoc",
    "CanAliasDoc",
    "CanFusionDoc",
    "CanReceiveDoc",
    "CanCompareDoc",
    "CanChangeCncOpt",
    "CanChangeMainOpt",
    "CanChangePass",
    "CanShowHisto",
    "DoNotShowVer",
    "CanAddDoc",
    "CanShowMaintenance",
    "CanActivDeactivCom",
    "CanChangLang",
    "CanShowTrace",
    "CanRestrictDoc",
    "CanQuitMoteur",
    "CanQuickSave",
    "ReOpenVer",
    "CanManageMoteur",
    "CanRestartMoteur",
    "CanShowSpeChar",
    "CanShowCumul",
    "CanAddHisto",
    "CanDelHisto",
    "CanChangeHisto",
    "CanRedimHisto",
    "CanExportHisto",
    "CanChangeState",
    "CanForceAutoState",
    "CanShowOfOp",
    "CanEditOf",
    "CanAddOf",
    "CanDeleteOf",
    "CanEditOp",
    "CanAddOp",
    "CanDeleteOp",
    "CanAddOpPeriod",
    "CanEditOpPeriod",
    "CanDeleteOpPeriod",
    "CanShowPeriod",
    "CanShowProdOf",
    "CanShowCal",
    "CanEditCal",
    "CanShowReport",
    "CanEditReport",
]
_OFF_BY_DEFAULT = {"DoNotShowVer", "CanQuickSave", "ReOpenVer"}


@dataclass(frozen=True, slots=True)
class SimGroup:
    group_id: int
    name: str
    denied: frozenset[str] = frozenset()
    scenario: str = ""
    #: States this group's scenario may set; None means all of them.
    allowed_states: frozenset[int] | None = None

    def can(self, permission: str) -> bool:
        return permission not in self.denied

    def as_cwork(self) -> dict[str, str]:
        flags = {
            name: "1" if (self.can(name) and name not in _OFF_BY_DEFAULT) else "0"
            for name in _ALL_PERMISSIONS
        }
        allowed = self.allowed_states
        return {
            "GroupId": str(self.group_id),
            "GroupName": self.name,
            **flags,
            "ScenarioName": self.scenario,
            "StatusFilter": "",
            "StatusCanChange": "" if allowed is None else ",".join(map(str, sorted(allowed))),
            "StationAllow": "",
            "StatusNotCertif": "",
            "UseCwo": "1",
            "UseCti": "1",
        }


#: The groups of the simulated installation. Operators cannot force the auto state nor set
#: the disengagement family; viewers cannot change states at all.
GROUPS: dict[str, SimGroup] = {
    g.name: g
    for g in (
        SimGroup(1, "Administrators"),
        SimGroup(2, "Supervisors", scenario="Supervision"),
        SimGroup(
            3,
            "Operators",
            denied=frozenset({"CanForceAutoState", "CanDelDoc", "CanDelVersion"}),
            scenario="Operator",
            allowed_states=frozenset({0, 1, 2, 3, 5, 6, 7, 8, 9}),
        ),
        SimGroup(
            4, "Viewers", denied=frozenset({"CanChangeState", "CanForceAutoState"}), scenario=""
        ),
    )
}


@dataclass(frozen=True, slots=True)
class SimUser:
    handle: int
    login: str
    group: SimGroup
    mail: str = ""

    def as_cwork(self) -> dict[str, Any]:
        return {
            "Handle": self.handle,
            "Login": self.login,
            "Name": self.login,
            "Mail": self.mail,
            "Phone": "",
            "Group": self.group.name,
            "GroupID": self.group.group_id,
            "Visible": self.handle != 1,
        }


def users_from_keys(specs: Iterable[str]) -> dict[str, SimUser]:
    """``KEY``, ``KEY=Login`` or ``KEY=Login@Group``; the first key is the administrator's."""
    users: dict[str, SimUser] = {}
    for index, spec in enumerate(specs):
        key, _, who = spec.partition("=")
        login, _, group_name = who.partition("@")
        if not key:
            raise ValueError(f"empty API key in {spec!r}")
        if group_name and group_name not in GROUPS:
            raise ValueError(f"unknown group {group_name!r} (one of {', '.join(GROUPS)})")
        group = GROUPS[group_name or ("Administrators" if index == 0 else "Supervisors")]
        login = login or ("APIUser" if index == 0 else f"User{index + 1}")
        users[key] = SimUser(index + 1, login, group, f"{login.lower()}@factory.example")
    if not users:
        raise ValueError("the simulator needs at least one API key")
    return users


class ApiError(Exception):
    """A CWork error answer: the code's HTTP status and message come from the catalogue."""

    def __init__(self, code: int, message: str = "", status: int | None = None) -> None:
        cls = ERROR_CLASSES[code]
        self.code = code
        self.message = message or cls.default_message
        self.status = status or cls.http_status_default
        super().__init__(self.message)


@dataclass
class CWorkApi:
    """Answers a ``SimRequest`` as CWork would."""

    world: World
    users: dict[str, SimUser]
    licenses: frozenset[License] = frozenset({License.MONITOR, License.DNC, License.PROD})
    max_version: ApiVersion = KNOWN_VERSIONS[-1]
    seed: int = 1
    dnc: DncStore = field(init=False)
    _routes: dict[str, Callable[..., Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.dnc = DncStore.generate(self.world.stations, seed=self.seed, now=self.world.now())
        self._routes = {
            name[len("ep_") :]: getattr(self, name) for name in dir(self) if name.startswith("ep_")
        }

    def __call__(self, request: SimRequest) -> SimResponse:
        try:
            return self._answer(request)
        except ApiError as exc:
            return SimResponse.json({"ErrorCode": exc.code, "Message": exc.message}, exc.status)
        except WorldError as exc:
            return SimResponse.json(
                {"ErrorCode": exc.code, "Message": exc.message},
                ERROR_CLASSES[exc.code].http_status_default,
            )

    def _answer(self, request: SimRequest) -> SimResponse:
        user = self._authenticate(request)
        version = version_from_accept(request.headers.get("accept"))
        if version is None:
            raise ApiError(1003)
        if version not in KNOWN_VERSIONS or version > self.max_version:
            raise ApiError(1002, f"Version {version} is not available")
        if request.path.startswith("/_simulator/"):
            return self._control(request)
        found = match_endpoint(request.method, request.path)
        if found is None:
            if path_exists(request.path):
                raise ApiError(1008)
            raise ApiError(2004)
        endpoint, params = found
        if endpoint.since > version:
            raise ApiError(2004)
        self._check_license(endpoint)
        call = _Call(self, request, user, version, params)
        result = self._routes[endpoint.name](call)
        if isinstance(result, SimResponse):
            return result
        status = 201 if endpoint.name in ("create_document", "submit_version") else 200
        return SimResponse.json(result, status)

    def _authenticate(self, request: SimRequest) -> SimUser:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
            if key in self.users:
                return self.users[key]
        raise ApiError(1001, "Function is not Allowed: unknown or missing API key", 401)

    def _check_license(self, endpoint: Endpoint) -> None:
        if not self.licenses:
            raise ApiError(3001)
        if endpoint.license is not License.ANY and endpoint.license not in self.licenses:
            raise ApiError(1001)

    def _control(self, request: SimRequest) -> SimResponse:
        """``PUT /_simulator/exchange/{name}`` places a file in the exchange folder."""
        prefix = "/_simulator/exchange/"
        if request.path.startswith(prefix) and request.method == "PUT":
            name = request.path[len(prefix) :]
            with self.dnc.lock:
                self.dnc.exchange[name] = request.body
            return SimResponse.json({"File": name, "Size": len(request.body)})
        raise ApiError(2004)

    # --- users, groups ------------------------------------------------------------------------

    def ep_users(self, c: _Call) -> Any:
        return [u.as_cwork() for u in sorted(self.users.values(), key=lambda u: u.handle)]

    def ep_user(self, c: _Call) -> Any:
        handle = c.handle("user_id")
        for user in self.users.values():
            if user.handle == handle:
                return user.as_cwork()
        raise ApiError(2004)

    def ep_groups(self, c: _Call) -> Any:
        return {"Groups": [g.as_cwork() for g in GROUPS.values()]}

    def ep_group(self, c: _Call) -> Any:
        handle = c.handle("group_id")
        for group in GROUPS.values():
            if group.group_id == handle:
                return {"Groups": [group.as_cwork()]}
        raise ApiError(2004)

    # --- stations -----------------------------------------------------------------------------

    def ep_stations(self, c: _Call) -> Any:
        return [_station(s) for s in self.world.stations]

    def ep_station(self, c: _Call) -> Any:
        return _station(self.world.station(c.handle("station_id")))

    def ep_station_has_image(self, c: _Call) -> Any:
        return {"Hasimage": self.world.station(c.handle("station_id")).has_image}

    def ep_station_image(self, c: _Call) -> Any:
        station = self.world.station(c.handle("station_id"))
        color = (0x40, 0x70, 0xB0) if station.has_image else (0x80, 0x80, 0x80)
        return SimResponse(200, _png(64, 64, color), content_type="image/png")

    def ep_station_protocol(self, c: _Call) -> Any:
        return {"message": self.world.station(c.handle("station_id")).protocol}

    def ep_station_kpi(self, c: _Call) -> Any:
        handle = c.handle("station_id")
        start, end = c.period()
        return self.world.kpi(handle, start, end).as_cwork()

    def ep_station_alarms(self, c: _Call) -> Any:
        handle = c.handle("station_id")
        return [self._alarm(a, with_end=True) for a in self.world.alarms(handle, *c.period())]

    def ep_running_programs(self, c: _Call) -> Any:
        handle = c.handle("station_id")
        return [self._program(p) for p in self.world.running_programs(handle, *c.period())]

    def ep_selected_programs(self, c: _Call) -> Any:
        handle = c.handle("station_id")
        return [self._program(p) for p in self.world.selected_programs(handle, *c.period())]

    # --- states and live status ---------------------------------------------------------------

    def ep_states(self, c: _Call) -> Any:
        return [self._state(s) for s in self.world.states]

    def ep_state(self, c: _Call) -> Any:
        return self._state(self.world.state(c.handle("state_id")))

    def ep_station_status(self, c: _Call) -> Any:
        handle = c.handle("station_id")
        return self._status(self.world.status(handle), c.version, with_handle=False)

    def ep_station_statuses(self, c: _Call) -> Any:
        return [self._status(s, c.version, with_handle=True) for s in self.world.statuses()]

    def ep_change_state(self, c: _Call) -> Any:
        c.require_permission("CanChangeState")
        state, comment = c.state_body()
        top = self.world.change_state(
            c.handle("station_id"), state, comment or "", c.user.group.allowed_states
        )
        return self._state_change(top)

    def ep_replace_current_state(self, c: _Call) -> Any:
        c.require_permission("CanChangeState")
        state, comment = c.state_body()
        top = self.world.replace_current_state(
            c.handle("station_id"), state, comment, c.user.group.allowed_states
        )
        return self._state_change(top)

    def ep_force_auto_state(self, c: _Call) -> Any:
        c.require_permission("CanForceAutoState")
        body = c.json_body(default={})
        if body not in ({}, None, []):
            raise ApiError(1010, "An empty body is required")
        return self._state_change(self.world.force_auto_state(c.handle("station_id")))

    def ep_reset_part_count(self, c: _Call) -> Any:
        body = c.json_object()
        value = c.whole(body, "PartCount")
        if value < 0:
            raise ApiError(1010, "PartCount cannot be negative")
        self.world.reset_part_count(c.handle("station_id"), value)
        return []

    def ep_tops(self, c: _Call) -> Any:
        station = c.query_int("station", required=True)
        start = c.query_int("startdate", required=True)
        end = c.query_int("enddate", required=True)
        before = c.query_int("nbtopbefore") or 0
        after = c.query_int("nbtopafter") or 0
        limit, page = c.paging("tops")
        tz = self.world.tz
        tops = self.world.tops(
            station,
            datetime.fromtimestamp(start, tz),
            datetime.fromtimestamp(end, tz),
            before=before,
            after=after,
        )
        first = (page - 1) * limit
        chosen = tops[first : first + limit]
        now = self.world.now()
        return {
            "Has_more": first + limit < len(tops),
            "Tops": [self._top(top, first + i, now) for i, top in enumerate(chosen)],
        }

    # --- documents and versions ---------------------------------------------------------------

    def ep_documents(self, c: _Call) -> Any:
        station = c.query_int("station")
        include_group = c.query_bool("include_group")
        recycle_bin = c.query.get("recycle_bin", "exclude")
        if recycle_bin not in ("exclude", "include", "only"):
            raise ApiError(1010, "recycle_bin is exclude, include or only")
        stations = None
        if station is not None:
            stations = {station}
            if include_group:
                group = self.world.station(station).dnc_group
                stations = {s.handle for s in self.world.stations if s.dnc_group == group}
        limit, page = c.paging("documents")
        with self.dnc.lock:
            found = self.dnc.find(
                reference=c.query.get("reference"),
                extension=c.query.get("extension"),
                stations=stations,
                recycle_bin=recycle_bin,
            )
            first = (page - 1) * limit
            return {
                "Has_more": first + limit < len(found),
                "Documents": [self._document(d) for d in found[first : first + limit]],
            }

    def ep_document(self, c: _Call) -> Any:
        with self.dnc.lock:
            return self._document(self.dnc.document(c.handle("doc_id")))

    def ep_document_custom_fields(self, c: _Call) -> Any:
        return dict(_CUSTOM_FIELDS)

    def ep_create_document(self, c: _Call) -> Any:
        body = c.json_object()
        if "Reference" not in body or "StationId" not in body:
            raise ApiError(2010)
        reference = str(body.get("Reference") or "").strip()
        if not reference:
            raise ApiError(2011)
        station = self.world.station(c.whole(body, "StationId"))
        with self.dnc.lock:
            document = self.dnc.create_document(
                reference=reference,
                station=station.handle,
                now=self.world.now(),
                extension=body.get("Extension"),
                folder=body.get("Folder"),
                protected=body.get("Protected"),
                **{f"custom{n}": body.get(f"Custom{n}") for n in range(1, 6)},
            )
            return self._document(document)

    def ep_versions(self, c: _Call) -> Any:
        with self.dnc.lock:
            document = self.dnc.document(c.handle("doc_id"))
            return [self._version(v, None) for v in self.dnc.versions_of(document.document_id)]

    def ep_version(self, c: _Call) -> Any:
        return self._version_detail(c, c.handle("doc_id"))

    def ep_version_direct(self, c: _Call) -> Any:
        return self._version_detail(c, None)

    def _version_detail(self, c: _Call, document_id: int | None) -> Any:
        with self.dnc.lock:
            version = self.dnc.version(c.handle("ver_id"), document_id)
            shared = self.dnc.share(version) if c.query_bool("include_file") else None
            return self._version(version, shared)

    def ep_download_version(self, c: _Call) -> Any:
        return self._download(c, c.handle("doc_id"))

    def ep_download_version_direct(self, c: _Call) -> Any:
        return self._download(c, None)

    def _download(self, c: _Call, document_id: int | None) -> Any:
        with self.dnc.lock:
            version = self.dnc.version(c.handle("ver_id"), document_id)
        if c.query_bool("json") is False:
            return SimResponse(200, version.content, content_type="application/text")
        return {"VersionId": version.version_id, "Content": list(version.content)}

    def ep_certify_version(self, c: _Call) -> Any:
        return self._certify(c, c.handle("doc_id"))

    def ep_certify_version_direct(self, c: _Call) -> Any:
        return self._certify(c, None)

    def _certify(self, c: _Call, document_id: int | None) -> Any:
        c.require_permission("CanCertificatDoc")
        body = c.json_object()
        new_status = str(body.get("NewStatus") or "").strip()
        if not new_status:
            raise ApiError(2010)
        with self.dnc.lock:
            version = self.dnc.version(c.handle("ver_id"), document_id)
            certified = self.dnc.certify(version, new_status, self.world.now())
        return {
            "Comments": str(body.get("Comments") or ""),
            "NewStatus": certified.status,
            "VersionId": certified.version_id,
        }

    def ep_submit_version(self, c: _Call) -> Any:
        body = c.json_object()
        file_name = str(body.get("File") or "").strip()
        if not file_name:
            raise ApiError(2010)
        with self.dnc.lock:
            version = self.dnc.submit(
                c.handle("doc_id"),
                file_name=file_name,
                md5=str(body.get("Md5") or ""),
                comment=str(body.get("Comment") or ""),
                now=self.world.now(),
            )
            return self._version(version, None)

    def ep_delete_version(self, c: _Call) -> Any:
        c.require_permission("CanDelVersion")
        station = self.world.station(c.handle("station_id"))
        version_id = c.whole(c.json_object(), "VersionId")
        with self.dnc.lock:
            self.dnc.delete_version(station.handle, version_id)
        return SimResponse(200, b"")

    def ep_delete_document(self, c: _Call) -> Any:
        c.require_permission("CanDelDoc")
        station = self.world.station(c.handle("station_id"))
        document_id = c.whole(c.json_object(), "DocumentId")
        with self.dnc.lock:
            self.dnc.delete_document(station.handle, document_id)
        return SimResponse(200, b"")

    def ep_send(self, c: _Call) -> Any:
        c.require_permission("CanSendDoc")
        station = self._dnc_station(c)
        body = c.json_object()
        self._find_program(station.handle, body)
        mode = body.get("DestinationFolderMode")
        if mode is not None and (
            c.version < ApiVersion(1, 15) or mode not in ("append", "override")
        ):
            raise ApiError(1010, "DestinationFolderMode is append or override (from v1.15)")
        if body.get("AsynchronousMode"):
            now = self.world.now()
            return {
                "GUID": f"{{{_guid(station.handle, now)}}}",
                "TimeTag": now.strftime("%d/%m/%Y %H:%M:%S"),
                "Status": "0: File Sent ",
            }
        return []

    def ep_multisend(self, c: _Call) -> Any:
        c.require_permission("CanSendDoc")
        station = self._dnc_station(c)
        documents = c.json_object().get("Documents")
        if not isinstance(documents, list) or not documents:
            raise ApiError(2010)
        for item in documents:
            if not isinstance(item, dict):
                raise ApiError(1010, "each document is an object")
            self._find_program(station.handle, item)
        if station.protocol != "RS232":
            raise ApiError(2024, "Send ressource returned an error: multisend needs RS232")
        return []

    def ep_delete_remote_range(self, c: _Call) -> Any:
        station = self._dnc_station(c)
        body = c.json_object()
        low, high = c.whole(body, "MinRange"), c.whole(body, "MaxRange")
        if low > high:
            raise ApiError(1010, "MinRange is above MaxRange")
        if "Prefix" in body and c.version < ApiVersion(1, 8):
            raise ApiError(1010, "Prefix needs v1.8")
        if station.protocol == "RS232":
            prefix = str(body.get("Prefix") or "")
            return SimResponse.json(
                {
                    "MacroStatus": {
                        "StatusCode": 3,
                        "StatusMessage": "3: Impossible to delete the document on the "
                        "destination folder",
                    },
                    "FileDeleteStatusDetail": {
                        "FileName": f"{prefix}{low}",
                        "ErrorCode": 13,
                        "ErrorMessage": "EW_REJECT",
                        "ErrorMessageMeaning": "Error(CNC execution rejection)",
                    },
                },
                500,
            )
        return {"MacroStatus": {"StatusCode": 0, "StatusMessage": "Document deleted"}}

    def _dnc_station(self, c: _Call) -> Any:
        station = self.world.station(c.handle("station_id"))
        if station.disabled or not station.dnc_mode:
            raise ApiError(2003)
        return station

    def _find_program(self, station: int, body: dict[str, Any]) -> DocumentRecord:
        name, extension = body.get("DocumentName"), body.get("DocExtension")
        if not name or not extension:
            raise ApiError(2010)
        with self.dnc.lock:
            found = self.dnc.find(
                reference=str(name),
                extension=str(extension),
                stations={station},
                recycle_bin="exclude",
            )
        if not found:
            raise ApiError(2018)
        return found[0]

    # --- orders and operations ----------------------------------------------------------------

    def ep_orders(self, c: _Call) -> Any:
        return [self._order(o) for o in self.world.orders()]

    def ep_order(self, c: _Call) -> Any:
        return [self._order(self.world.order(c.handle("order_id")))]  # sic: wrapped in a list

    def ep_operations(self, c: _Call) -> Any:
        order = c.query_int("order")
        cnc = None if order is not None else c.query_int("cnc")
        return [self._operation(o) for o in self.world.operations(cnc=cnc, order=order)]

    def ep_operation(self, c: _Call) -> Any:
        return [self._operation(self.world.operation(c.handle("operation_id")))]

    # --- rendering, as CWork writes it --------------------------------------------------------

    def _date(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        local = value.astimezone(self.world.tz)
        return local.isoformat(timespec="milliseconds")

    def _state(self, state: StateDef) -> dict[str, Any]:
        return {
            "Handle": state.handle,
            "Name": state.name,
            "Color": state.color,
            "OEECategory": state.oee_category,
            "ParentHandle": state.parent,
            "CloseDay": state.close_day,
            "ProdPercent": state.prod_percent,
            "UsePercent": state.use_percent,
        }

    def _alarm(self, alarm: AlarmRecord, *, with_end: bool) -> dict[str, Any]:
        rendered = {
            "Code": alarm.code,
            "Message": alarm.message,
            "StartDate": self._date(alarm.start),
        }
        if with_end:
            rendered["EndDate"] = self._date(alarm.end)
        return rendered

    def _program(self, run: ProgramRun) -> dict[str, Any]:
        return {
            "Name": run.name,
            "Context": run.context,
            "StartDate": self._date(run.start),
            "EndDate": self._date(run.end),
        }

    def _status(self, s: StatusSnapshot, version: ApiVersion, *, with_handle: bool) -> dict:
        body: dict[str, Any] = {}
        if with_handle:
            body["Handle"] = s.station
        body.update(
            {
                "Reference": s.reference,
                "Order": s.order,
                "Job": s.job,
                "JobCycleTime": str(s.job_cycle_time),  # sic: numbers as strings
                "PartCount": str(s.part_target),
                "State": self._state(self.world.state(s.state)),
                "LastTop": self._date(s.since),
                "Comment": s.comment,
                "Alarms": [self._alarm(a, with_end=False) for a in s.alarms],
                "RunningProgram": {"Name": s.running_program} if s.running_program else None,
                "SelectedProgram": {"Name": s.selected_program} if s.selected_program else None,
                "TotalParts": s.total_parts,
                "PartsSinceReset": s.parts_since_reset,
            }
        )
        for name, since in STATUS_FIELDS_SINCE.items():
            if version < since:
                body.pop(name, None)
        if version < STATUS_FIELDS_SINCE["SelectedProgram"]:
            body["SelectedProgram"] = s.selected_program or ""  # the pre-1.11 form: a name
        return body

    def _state_change(self, top: TopRecord) -> dict[str, Any]:
        return {
            "State": self._state(self.world.state(top.state)),
            "LastTop": self._date(top.start),
            "Comment": top.comment,
        }

    def _top(self, top: TopRecord, position: int, now: datetime) -> dict[str, Any]:
        end = top.end or now
        return {
            "topidentifier": position,
            "topcnchandlefield": top.station,
            "topstatehandlefield": top.state,
            "topstartdatefield": self._date(top.start),
            "topcommentfield": top.comment,
            "topenddatefield": self._date(top.end),
            "topdurationfield": int((end - top.start).total_seconds()),
        }

    def _document(self, d: DocumentRecord) -> dict[str, Any]:
        current = self.dnc.current_version(d.document_id)
        return {
            "DocumentId": d.document_id,
            "DocumentIdAlias": d.alias_of,
            "Reference": d.reference,
            "Extension": d.extension,
            "Folder": d.folder,
            "StationId": d.station,
            "DisplayStatus": current.status if current else "",
            "DisplayIndex": f"{current.primary_index}/{current.secondary_index}" if current else "",
            "DisplaySize": len(current.content) if current else 0,
            "Emergency": d.emergency,
            "CDate": self._date(d.created),
            "MDate": self._date(d.modified),
            **{f"Custom{n}": d.custom[n - 1] for n in range(1, 6)},
            "Protected": d.protected,
            "Archived": d.archived,
        }

    def _version(self, v: VersionRecord, shared_file: str | None) -> dict[str, Any]:
        return {
            "VersionId": v.version_id,
            "DocumentId": v.document_id,
            "Status": v.status,
            "PrimaryIndex": v.primary_index,
            "SecondaryIndex": v.secondary_index,
            "CDate": self._date(v.created),
            "MDate": self._date(v.modified),
            "RXDate": self._date(v.received),
            "TXDate": self._date(v.sent),
            "Comment": v.comment,
            "Size": len(v.content),
            "File": {"url": shared_file, "md5": v.md5} if shared_file else None,
        }

    def _order(self, o: Any) -> dict[str, Any]:
        return {
            "OrderId": o.order_id,
            "Name": o.name,
            "CreationDate": self._date(o.creation_date),
            "Description": o.description,
            "PartReference": o.part_reference,
            "Client": o.client,
            "CurrentState": o.current_state,
            "Valid": int(o.valid),
            "Archived": int(o.archived),
        }

    def _operation(self, o: Any) -> dict[str, Any]:
        return {
            "OperationId": o.operation_id,
            "OrderId": o.order_id,
            "Name": o.name,
            "CreationDate": self._date(o.creation_date),
            "Description": o.description,
            "CNCId": o.cnc_id,
            "DocumentId": o.document_id,
            "CurrentState": o.current_state,
            "PartsToMake": o.parts_to_make,
            "PartsMade": o.parts_made,
            "PartsPerCycle": o.parts_per_cycle,
            "CycleTime": o.cycle_time,
        }


def _station(s: Any) -> dict[str, Any]:
    return {
        "Handle": s.handle,
        "Name": s.name,
        "Description": s.description,
        "Disabled": s.disabled,
        "DNCMode": s.dnc_mode,
        "MDCMode": s.mdc_mode,
        "Workshop": s.workshop,
        # sic: CWork spells the key both ways (the doc's own list shows both).
        ("DNCgroup" if s.handle % 2 else "DNCGroup"): s.dnc_group,
        "MDCGroups": list(s.mdc_groups),
    }


@dataclass(slots=True)
class _Call:
    """One request's parameters, read with CWork's error codes."""

    api: CWorkApi
    request: SimRequest
    user: SimUser
    version: ApiVersion
    params: dict[str, str]

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    def handle(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise ApiError(1005) from None

    @overload
    def query_int(self, name: str, *, required: Literal[True]) -> int: ...
    @overload
    def query_int(self, name: str, *, required: bool = False) -> int | None: ...
    def query_int(self, name: str, *, required: bool = False) -> int | None:
        text = self.query.get(name)
        if text is None or text == "":
            if required:
                raise ApiError(1009, f"Missing required parameter: {name}")
            return None
        try:
            return int(text)
        except ValueError:
            raise ApiError(1010, f"Error in parameters: {name} must be a whole number") from None

    def query_bool(self, name: str) -> bool | None:
        text = self.query.get(name)
        if text is None:
            return None
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise ApiError(1010, f"Error in parameters: {name} must be true or false")

    def query_date(self, name: str, *, required: bool) -> datetime | None:
        text = self.query.get(name)
        if not text:
            if required:
                raise ApiError(1009, f"Missing required parameter: {name}")
            return None
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ApiError(1011) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def period(self) -> tuple[datetime, datetime]:
        start = self.query_date("dstart", required=True)
        end = self.query_date("dend", required=False) or self.api.world.now()
        assert start is not None
        if end < start:
            raise ApiError(1010, "Error in parameters: dend is before dstart")
        return start, end

    def paging(self, resource: str) -> tuple[int, int]:
        cap = PAGE_CAPS[resource]
        limit = self.query_int("limit") or cap
        page = self.query_int("page") or 1
        if limit < 1 or page < 1:
            raise ApiError(1010, "Error in parameters: limit and page start at 1")
        return min(limit, cap), page

    def json_body(self, *, default: Any = None) -> Any:
        if not self.request.body.strip():
            return default
        try:
            return json.loads(self.request.body)
        except ValueError:
            raise ApiError(1004, "Bad Request: the body is not valid JSON") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json_body(default=None)
        if not isinstance(body, dict):
            raise ApiError(2010)
        return body

    def whole(self, body: dict[str, Any], name: str) -> int:
        if name not in body or body[name] in (None, ""):
            raise ApiError(1009, f"Missing required parameter: {name}")
        value = body[name]
        if isinstance(value, bool):
            raise ApiError(1010, f"Error in parameters: {name} must be a whole number")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiError(1010, f"Error in parameters: {name} must be a whole number") from None

    def state_body(self) -> tuple[int, str | None]:
        body = self.json_object()
        if "State" not in body or body["State"] is None:
            raise ApiError(1009, "Missing required parameter: State")
        state = body["State"]
        if isinstance(state, bool) or not isinstance(state, int | str):
            raise ApiError(1005)
        try:
            handle = int(state)
        except ValueError:
            raise ApiError(1005) from None
        comment = body.get("Comment")
        if comment is not None and not isinstance(comment, str):
            raise ApiError(1010, "Error in parameters: Comment must be a text")
        return handle, comment

    def require_permission(self, permission: str) -> None:
        if not self.user.group.can(permission):
            raise ApiError(1001)


_CUSTOM_FIELDS = {
    "docnamefield": "Reference",
    "docdescriptionfield": "Description",
    "doctitlefield": "Title",
    "docsubjectfield": "Subject",
    "doccategoryfield": "Category",
    "docindicefield": "Manual Index",
    "doccncfield": "CNC",
    "docfolderfield": "Folder",
    "docextfield": "Extension",
    "docstatusfield": "Status",
    "docprimaryindexfield": "Index",
    "doccncauthorizedfield": "CNC Authorized",
    "docfilesize": "Size",
    "docpkaliasfield": "Alias",
    "docprotectfield": "Protected",
    "docarchivedfield": "Archived",
    "docisattachment": "has an Attachment",
    "docspecialflagfield": "Special Flag",
    "doccdatefield": "Creation date",
    "docmdatefield": "Edit date",
    "docfilesizeValidfield": "Size",
}


def _guid(station: int, now: datetime) -> str:
    digest = f"{station:08X}{int(now.timestamp()):016X}".ljust(32, "0")
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG (CWork sends a default image when a station has none)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
