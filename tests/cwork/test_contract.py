"""Every endpoint of the documentation, through the client, against the simulator."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cwork import errors
from cwork.client import CWorkClient, DocumentToSend
from simulator import ManualClock, Simulator
from tests.lookups import present

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday: every workshop is open


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sim(clock: ManualClock) -> Simulator:
    return Simulator(
        stations=8,
        seed=11,
        clock=clock,
        api_keys=("admin-key", "op-key=Marie@Operators", "view-key=Paul@Viewers"),
    )


@pytest.fixture
def cw(sim: Simulator) -> Iterator[CWorkClient]:
    with sim.client() as client:
        yield client


def producing_station(cw: CWorkClient) -> int:
    for status in cw.station_statuses():
        if status.state.handle == 0:
            return present(status.station_id)
    raise AssertionError("no station in production at 10:00 on a Tuesday")


def test_it_lists_users_and_groups_with_their_rights(cw: CWorkClient) -> None:
    users = cw.users()
    assert [u.login for u in users] == ["APIUser", "Marie", "Paul"]
    assert cw.user(2).group == "Operators"
    groups = {g.name: g for g in cw.groups()}
    assert groups["Operators"].can("ChangeState")
    assert not groups["Operators"].can("ForceAutoState")
    assert not cw.group(4).can("ChangeState")
    with pytest.raises(errors.ResourceNotFound):
        cw.user(99)


def test_it_reads_stations_whatever_the_key_casing(cw: CWorkClient) -> None:
    stations = cw.stations()
    assert len(stations) == 8
    assert all(s.dnc_group for s in stations), "DNCgroup and DNCGroup are both read"
    assert cw.station(3).name == stations[2].name
    assert cw.station_has_image(1) in (True, False)
    image = cw.station_image(1)
    assert image.content_type == "image/png"
    assert image.data.startswith(b"\x89PNG")
    assert cw.station_protocol(1)
    with pytest.raises(errors.StationNotFound):
        cw.station(999)


def test_it_reads_every_live_status_in_one_request(sim: Simulator) -> None:
    calls = []
    transport = sim.transport()

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return transport.handle_request(request)

    with CWorkClient("http://sim", "admin-key", transport=httpx.MockTransport(counting)) as client:
        statuses = client.station_statuses()
    assert calls.count("/station_statuses") == 1
    assert [s.station_id for s in statuses] == list(range(1, 9))
    assert statuses.rejected == []
    running = [s for s in statuses if s.state.handle == 0]
    assert running, "some station produces at 10:00 on a Tuesday"
    assert all(isinstance(s.job_cycle_time, int) for s in running)
    assert all(s.state.color and s.state.color.startswith("#") for s in statuses)


def test_it_falls_back_to_one_request_per_station_before_v1_12(clock: ManualClock) -> None:
    old = Simulator(stations=5, seed=11, clock=clock, api_version="1.11")
    with old.client() as client:
        assert str(client.server_version) == "1.11"
        statuses = client.station_statuses()
        assert [s.station_id for s in statuses] == [1, 2, 3, 4, 5]
        assert statuses[0].total_parts is None, "TotalParts exists from v1.12 only"
        with pytest.raises(errors.CWorkVersionError):
            client.station_statuses(fallback=False)
        with pytest.raises(errors.CWorkVersionError):
            client.reset_part_count(1, 0)


def test_a_state_change_shows_in_status_and_tops(cw: CWorkClient, clock: ManualClock) -> None:
    station = producing_station(cw)
    answer = cw.change_state(station, 3, "Waiting for material")
    assert answer.state.name == "Waiting"
    assert answer.comment == "Waiting for material"
    clock.advance(60)
    status = cw.station_status(station)
    assert status.state.handle == 3
    assert status.comment == "Waiting for material"
    tops = list(cw.iter_tops(station, NOW - timedelta(hours=1), NOW + timedelta(minutes=5)))
    assert tops[-1].state_handle == 3
    assert tops[-1].end is None
    assert tops[-2].end == tops[-1].start


def test_state_change_refusals_carry_cworks_codes(cw: CWorkClient, sim: Simulator) -> None:
    station = producing_station(cw)
    with pytest.raises(errors.StateAlreadyAssigned):
        cw.change_state(station, 0)
    with pytest.raises(errors.StateNotFound):
        cw.change_state(station, 4242)
    with pytest.raises(errors.StateArchived):
        cw.change_state(station, 12)
    with pytest.raises(errors.StationNotFound):
        cw.change_state(999, 3)
    with sim.client("op-key") as operator:
        with pytest.raises(errors.StateNotInScenario):
            operator.change_state(station, 4)
        with pytest.raises(errors.FunctionNotAllowed):
            operator.force_auto_state(station)
    with sim.client("view-key") as viewer, pytest.raises(errors.FunctionNotAllowed):
        viewer.change_state(station, 3)


def test_replace_and_force_auto_state(cw: CWorkClient, clock: ManualClock) -> None:
    station = producing_station(cw)
    cw.change_state(station, 3, "no material")
    clock.advance(120)
    replaced = cw.replace_current_state(station, 8)
    assert replaced.state.name == "No material"
    assert replaced.comment == "no material", "without a comment and no merge it is kept"
    clock.advance(60)
    back = cw.force_auto_state(station)
    assert back.state.handle != 8


def test_part_count_reset(cw: CWorkClient) -> None:
    station = producing_station(cw)
    cw.reset_part_count(station, 12)
    assert cw.station_status(station).parts_since_reset == 12
    with pytest.raises(ValueError, match="negative"):
        cw.reset_part_count(station, -1)


def test_history_endpoints_answer_the_same_timeline(cw: CWorkClient) -> None:
    start, end = NOW - timedelta(days=3), NOW
    tops = list(cw.iter_tops(1, start, end, page_size=25))
    assert len(tops) > 25, "several pages were walked"
    assert all(a.end == b.start for a, b in itertools.pairwise(tops))
    assert len({t.start for t in tops}) == len(tops)
    alarms = cw.station_alarms(1, NOW - timedelta(days=10))
    assert all(a.start <= (a.end or NOW) for a in alarms)
    runs = cw.running_programs(1, start, end)
    selected = cw.selected_programs(1, start, end)
    assert runs
    assert selected
    kpi = cw.station_kpi(1, start, end)
    assert kpi.times.at == 3 * 86400
    assert kpi.rates.availability is not None
    assert kpi.rates.performance is not None
    assert kpi.rates.quality is not None
    assert kpi.rates.oee == pytest.approx(
        kpi.rates.availability * kpi.rates.performance * kpi.rates.quality, abs=2e-3
    )


def test_tops_pages_are_capped_and_dates_checked(cw: CWorkClient) -> None:
    page = cw.tops_page(1, NOW - timedelta(days=1), NOW, limit=10_000)
    assert page.has_more is False
    with pytest.raises(errors.InvalidDateFormat):
        cw._call("station_kpi", params={"dstart": "2015-06-38T17:19:00"}, station_id=1)
    with pytest.raises(errors.MissingParameter):
        cw._call("station_alarms", station_id=1)


def test_orders_and_operations(cw: CWorkClient) -> None:
    orders = cw.orders()
    assert orders
    order = cw.order(orders[0].order_id)
    assert order == orders[0]
    operations = cw.operations(order_id=order.order_id)
    assert operations
    assert all(op.order_id == order.order_id for op in operations)
    station = operations[0].station_id
    assert station is not None
    assert cw.operations(order_id=order.order_id, station_id=station + 1) == []
    assert all(op.station_id == station for op in cw.operations(station_id=station))
    assert cw.operation(operations[0].operation_id).operation_id == operations[0].operation_id
    with pytest.raises(errors.ResourceNotFound):
        cw.order(1)


def test_documents_versions_and_dnc_writes(cw: CWorkClient, sim: Simulator) -> None:
    documents = list(cw.iter_documents(limit=3))
    assert len(documents) > 3
    document = documents[0]
    assert document.station_id is not None
    assert cw.document(document.document_id) == document
    assert cw.document_custom_fields().labels["docnamefield"] == "Reference"
    versions = cw.versions(document.document_id)
    detail = cw.version(versions[0].version_id, include_file=True)
    assert detail.file is not None
    content = cw.download_version(versions[0].version_id, document_id=document.document_id)
    assert content.startswith(b"%")
    assert detail.file.md5 == hashlib.md5(content, usedforsecurity=False).hexdigest().upper()
    certified = cw.certify_version(versions[0].version_id, "VALIDATED", comments="ok")
    assert certified.new_status == "VALIDATED"

    created = cw.create_document("9001", document.station_id, extension="MPF")
    with pytest.raises(errors.DocumentAlreadyExists):
        cw.create_document("9001", document.station_id, extension="MPF")
    sim.api.dnc.exchange["upload1"] = b"%\nO9001\nM30\n%\n"
    with pytest.raises(errors.Md5Mismatch):
        cw.submit_version(created.document_id, "upload1", md5="0" * 32)
    submitted = cw.submit_version(created.document_id, "upload1", comment="first")
    assert cw.versions(created.document_id)[-1].version_id == submitted.version_id
    with pytest.raises(errors.FileNotInExchangeFolder):
        cw.submit_version(created.document_id, "upload1")

    assert cw.send_document(document.station_id, "9001", "MPF") is None
    sent = cw.send_document(document.station_id, "9001", "MPF", asynchronous=True)
    assert sent is not None
    assert sent.guid.startswith("{")
    with pytest.raises(errors.DocumentMissing):
        cw.send_document(document.station_id, "nope", "MPF")
    cw.delete_version(document.station_id, submitted.version_id)
    with pytest.raises(errors.VersionNotFound):
        cw.version(submitted.version_id)
    cw.delete_document(document.station_id, created.document_id)
    with pytest.raises(errors.DocumentNotFound):
        cw.document(created.document_id)


def test_multisend_and_remote_deletion_follow_the_station_protocol(cw: CWorkClient) -> None:
    stations = {s.handle: cw.station_protocol(s.handle) for s in cw.stations() if s.dnc_mode}
    documents = list(cw.iter_documents())
    for handle, protocol in stations.items():
        mine = [d for d in documents if d.station_id == handle]
        if not mine:
            continue
        batch = [DocumentToSend(mine[0].reference, mine[0].extension)]
        result_ok = protocol != "RS232"
        if protocol == "RS232":
            cw.multisend(handle, batch)
            with pytest.raises(errors.RemoteDeletionFailed) as failure:
                cw.delete_remote_range(handle, 1000, 4000, prefix="O")
            assert present(present(failure.value.details).failure)["FileName"] == "O1000"
        else:
            with pytest.raises(errors.SendFailed):
                cw.multisend(handle, batch)
            assert cw.delete_remote_range(handle, 1000, 4000).ok is result_ok


@pytest.mark.parametrize(
    ("accept", "error"),
    [
        (None, errors.NoVersionSelected),
        ("application/json+v1.99", errors.VersionNotAvailable),
        ("application/json+v2.0", errors.VersionNotAvailable),
    ],
)
def test_the_api_version_is_required(
    sim: Simulator, accept: str | None, error: type[errors.CWorkAPIError]
) -> None:
    headers = {"Accept": accept} if accept else {}
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as raw:
        answer = raw.get("/states", headers=headers, auth=("admin-key", ""))
    assert answer.json()["ErrorCode"] == error.code
    assert answer.status_code == error.http_status_default


def test_the_docs_own_accept_header_means_the_newest_1x(sim: Simulator) -> None:
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as raw:
        answer = raw.get(
            "/station_statuses",
            headers={"Accept": "application/json+v1"},
            auth=("admin-key", ""),
        )
    assert answer.status_code == 200
    assert len(answer.json()) == 8


def test_a_bad_key_is_refused(sim: Simulator) -> None:
    with (
        sim.client("wrong-key", server_version="1.16") as client,
        pytest.raises(errors.FunctionNotAllowed) as refused,
    ):
        client.stations()
    assert refused.value.http_status == 401
    assert "wrong-key" not in str(refused.value)


@pytest.mark.parametrize(
    ("licenses", "endpoint", "error"),
    [
        ((), "stations", errors.NoLicense),
        (("monitor",), "orders", errors.FunctionNotAllowed),
        (("monitor",), "documents", errors.FunctionNotAllowed),
        (("dnc",), "station_statuses", errors.FunctionNotAllowed),
    ],
)
def test_licences_gate_their_modules(
    clock: ManualClock, licenses: tuple[str, ...], endpoint: str, error: type
) -> None:
    sim = Simulator(stations=2, seed=1, clock=clock, licenses=licenses)
    with sim.client(server_version="1.16") as client, pytest.raises(error):
        client._call(endpoint)


def test_a_wrong_method_is_1008_and_an_unknown_path_2004(sim: Simulator) -> None:
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as raw:
        answer = raw.delete(
            "/stations", headers={"Accept": "application/json+v1.16"}, auth=("admin-key", "")
        )
        missing = raw.get(
            "/nothing", headers={"Accept": "application/json+v1.16"}, auth=("admin-key", "")
        )
    assert answer.json()["ErrorCode"] == 1008
    assert missing.json()["ErrorCode"] == 2004


def test_missing_required_fields_are_refused(cw: CWorkClient) -> None:
    with pytest.raises(errors.MissingParameter):
        cw._call("change_state", json={"Comment": "no state"}, station_id=1)
    with pytest.raises(errors.ParametersMustBeHandle):
        cw._call("change_state", json={"State": "abc"}, station_id=1)
    with pytest.raises(errors.RequiredFieldsOmitted):
        cw._call("create_document", json={"Reference": "x"})
    with pytest.raises(errors.EmptyDocumentReference):
        cw._call("create_document", json={"Reference": "", "StationId": 1})
    answer = cw._http.post(
        "/stations/1/status_history",
        content=b"{not json",
        headers={"Accept": "application/json+v1.16"},
    )
    assert answer.json()["ErrorCode"] == errors.BadRequest.code


def test_the_simulator_is_deterministic_for_a_seed() -> None:
    clock_a, clock_b = ManualClock(NOW), ManualClock(NOW)
    a = Simulator(stations=6, seed=5, clock=clock_a)
    b = Simulator(stations=6, seed=5, clock=clock_b)
    with a.client() as ca, b.client() as cb:
        assert list(cb.iter_tops(4, NOW - timedelta(days=2), NOW)) == list(
            ca.iter_tops(4, NOW - timedelta(days=2), NOW)
        )
        assert ca.station_statuses() == cb.station_statuses()
