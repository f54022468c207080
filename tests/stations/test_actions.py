"""Supervisor actions: checked, sent once, audited and re-read, against the simulated factory.

Nothing of CWork is mocked: the simulator refuses what CWork refuses (a station not in MDC
mode, the same state again, an archived or unknown state, a state outside the user's
scenario, an unknown key); codes it cannot produce on demand come from its fault injector, and
a dropped answer from a transport that lets the request through and loses the response.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import Profile
from accounts.permissions import Action
from actions import services as actions
from actions.services import CODE_MESSAGES, MAYBE_HAPPENED, OK_MESSAGES, perform
from audit.models import ActionAttempt, Outcome
from cwork.client import CWorkClient
from cwork.versions import License
from screens.services import DEVICE_COOKIE, create_screen, enrol
from simulator import ManualClock, Simulator
from stations.jobs import run_job
from stations.models import LiveStatus, PollRecord, State, Station, Top
from tests.lookups import present
from tests.stations.helpers import CountingTransport, other_state, writable_station

pytestmark = pytest.mark.django_db

ALL = ("change_station_state", "replace_station_state", "force_auto_state", "reset_part_count")
NOT_MDC = 7  # the factory's station that is not in MDC mode (seed 7)
ARCHIVED = 12  # "Rework (old)", archived in CWork


class Wire(CountingTransport):
    """Counts what reaches CWork and keeps each request's method and path."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        super().__init__(inner)
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        return super().handle_request(request)

    @property
    def writes(self) -> list[str]:
        return [path for method, path in self.seen if method == "POST"]


class DroppedAnswer(httpx.BaseTransport):
    """Lets writes reach the simulator, then loses the answer (a read timeout after sending)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer", request=request)
        return response


class Unreachable(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


class Factory:
    """The simulated factory at the real time (views read Django's now), synced once."""

    def __init__(self) -> None:
        self.clock = ManualClock(timezone.now().replace(microsecond=0))
        self.sim = Simulator(
            stations=12,
            seed=7,
            clock=self.clock,
            history_days=1,
            api_keys=("demo-key", "op-key=Olga@Operators"),
        )
        self.wire = Wire(self.sim.transport())
        with self.client() as cwork:
            for kind in ("catalogue", "live"):
                result = run_job(kind, client=cwork, publish=lambda event: None)
                assert result.ok, result.reason
        self.wire.seen.clear()
        self.wire.requests = 0

    def client(self, api_key: str | None = None, transport=None) -> CWorkClient:
        return CWorkClient(
            "http://cwork-simulator",
            api_key or "demo-key",
            transport=transport or self.wire,
            retries=0,
            server_version="1.16",
        )

    def station(self, handle: int) -> Station:
        return Station.objects.get(cwork_id=handle)

    def writable(self) -> Station:
        return self.station(writable_station(self.sim))

    def state_now(self, handle: int) -> int:
        return self.sim.world.status(handle).state


@pytest.fixture
def factory(monkeypatch) -> Factory:
    factory = Factory()
    # The dashboard's own clients, as settings would build them, wired to the simulator.
    monkeypatch.setattr(actions, "cwork_client", lambda api_key=None: factory.client(api_key))
    monkeypatch.setattr(actions, "shared_cwork_client", factory.client)
    return factory


def make_user(name: str, *codenames: str, cwork_key: str = ""):
    user = get_user_model().objects.create_user(name, password="x" * 12)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
    )
    assert user.user_permissions.count() == len(codenames)
    if cwork_key:
        Profile.objects.create(user=user, cwork_api_key=cwork_key)
    return get_user_model().objects.get(pk=user.pk)  # fresh: no stale permission cache


def key() -> str:
    return uuid.uuid4().hex


# --- the service --------------------------------------------------------------------------


def test_a_state_change_is_sent_audited_and_shown_at_once(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    k = key()

    result = perform(user, station, Action.CHANGE_STATE, {"state": target, "comment": "Hi"}, k)

    assert result.ok, result.message
    assert result.message == str(OK_MESSAGES[Action.CHANGE_STATE])
    assert factory.wire.writes == [f"/stations/{station.cwork_id}/status_history"]
    assert factory.state_now(station.cwork_id) == target
    live = LiveStatus.objects.get(station=station)
    assert live.state_cwork_id == target  # re-polled right after, not at the next poll
    assert live.comment == "Hi"
    attempt = ActionAttempt.objects.get(idempotency_key=k)
    assert attempt.user == user
    assert attempt.username == "sup"
    assert attempt.station == station
    assert attempt.station_cwork_id == station.cwork_id
    assert attempt.action == "change_state"
    assert attempt.values == {"state": target, "comment": "Hi"}
    assert attempt.outcome == Outcome.OK
    assert attempt.cwork_code is None
    assert attempt.duration >= 0


def test_replace_force_auto_and_reset_reach_cwork_and_the_live_status(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    handle = station.cwork_id
    first = other_state(factory.sim, handle)
    assert perform(user, station, "change_state", {"state": first}, key()).ok
    second = other_state(factory.sim, handle)

    replaced = perform(user, station, "replace_state", {"state": second}, key())
    assert replaced.ok, replaced.message
    assert factory.state_now(handle) == second
    assert LiveStatus.objects.get(station=station).state_cwork_id == second

    forced = perform(user, station, "force_auto", {}, key())
    assert forced.ok, forced.message
    auto = factory.state_now(handle)
    assert LiveStatus.objects.get(station=station).state_cwork_id == auto

    reset = perform(user, station, "reset_parts", {"part_count": 5}, key())
    assert reset.ok, reset.message
    assert factory.sim.world.status(handle).parts_since_reset == 5
    assert LiveStatus.objects.get(station=station).parts_since_reset == 5
    assert factory.wire.writes == [
        f"/stations/{handle}/status_history",
        f"/stations/{handle}/replace_curent_state",
        f"/stations/{handle}/force_auto_state",
        f"/ResetStationPartCount/{handle}",
    ]
    assert ActionAttempt.objects.filter(outcome=Outcome.OK).count() == 4


@pytest.mark.parametrize("action", list(Action))
def test_without_the_permission_nothing_is_sent_and_it_is_audited(factory, action):
    others = [codename for codename in ALL if not codename.startswith(action.value[:5])]
    user = make_user("viewer", *others[:2])
    station = factory.writable()
    values = {"state": 1, "part_count": 0}
    result = perform(user, station, action, values, key())
    assert result.outcome == Outcome.FORBIDDEN
    assert factory.wire.requests == 0
    assert ActionAttempt.objects.get().outcome == Outcome.FORBIDDEN


def test_an_inactive_user_cannot_act(factory):
    user = make_user("gone", *ALL)
    user.is_active = False
    user.save()
    result = perform(user, factory.writable(), "force_auto", {}, key())
    assert result.outcome == Outcome.FORBIDDEN
    assert factory.wire.requests == 0


@pytest.mark.parametrize(
    ("action", "values", "field"),
    [
        ("change_state", {}, "state"),
        ("change_state", {"state": 999}, "state"),  # not in our catalogue
        ("change_state", {"state": ARCHIVED}, "state"),  # archived: hidden and refused
        ("change_state", {"state": "two"}, "state"),
        ("replace_state", {"state": 1, "comment": "x" * 501}, "comment"),
        ("reset_parts", {"part_count": -1}, "part_count"),
        ("reset_parts", {"part_count": 1_000_001}, "part_count"),
        ("reset_parts", {"part_count": "12.5"}, "part_count"),
        ("reset_parts", {"part_count": "many"}, "part_count"),
        ("reset_parts", {}, "part_count"),
    ],
)
def test_bad_values_send_nothing_and_say_why(factory, action, values, field):
    State.objects.filter(cwork_id=ARCHIVED).update(archived=True)
    user = make_user("sup", *ALL)
    result = perform(user, factory.writable(), action, values, key())
    assert result.outcome == Outcome.INVALID
    assert result.errors[field]
    assert factory.wire.requests == 0
    assert ActionAttempt.objects.get().outcome == Outcome.INVALID


def test_the_limits_themselves_are_accepted(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    assert perform(user, station, "change_state", {"state": target, "comment": "y" * 500}, key()).ok
    top = {"part_count": 1_000_000, "confirm": 1_000_000}  # above the target: confirmed
    assert perform(user, station, "reset_parts", top, key()).ok
    assert perform(user, station, "reset_parts", {"part_count": "0"}, key()).ok


def test_a_count_above_the_target_is_sent_only_once_confirmed(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    handle = station.cwork_id
    target = LiveStatus.objects.get(station=station).part_target
    assert target
    assert target < 1_000_000

    asked = perform(user, station, "reset_parts", {"part_count": 1_000_000}, key())
    assert asked.outcome == Outcome.INVALID
    assert asked.message == "Nothing was sent yet: confirm the count below."
    assert set(asked.errors) == {"confirm"}
    assert f"above this station's target of {target} parts" in asked.errors["confirm"][0]
    assert factory.wire.requests == 0
    assert present(asked.attempt).values == {"part_count": 1_000_000}

    # A confirmation of another count (the count changed since) asks again.
    again = {"part_count": 900_000, "confirm": "1000000"}
    assert set(perform(user, station, "reset_parts", again, key()).errors) == {"confirm"}
    assert factory.wire.requests == 0

    done = perform(
        user, station, "reset_parts", {"part_count": "900000", "confirm": "900000"}, key()
    )
    assert done.ok, done.message
    assert factory.sim.world.status(handle).parts_since_reset == 900_000
    assert present(done.attempt).values == {"part_count": 900_000}

    # At the target, or for a station without one, nothing is asked.
    assert perform(user, station, "reset_parts", {"part_count": target}, key()).ok
    LiveStatus.objects.filter(station=station).update(part_target=None)
    assert perform(user, station, "reset_parts", {"part_count": 1_000_000}, key()).ok


def test_the_same_key_twice_sends_once_and_answers_the_same(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    k = key()
    first = perform(user, station, "change_state", {"state": target}, k)
    again = perform(user, station, "change_state", {"state": target}, k)
    assert first.ok
    assert again.ok
    assert again.duplicate
    assert present(again.attempt).pk == present(first.attempt).pk
    assert len(factory.wire.writes) == 1
    assert ActionAttempt.objects.count() == 1


def test_the_users_own_cwork_key_is_used(factory):
    """Olga's CWork group (Operators) may not set "Disengagement" (4): CWork says so."""
    olga = make_user("olga", *ALL, cwork_key="op-key")
    station = factory.writable()
    result = perform(olga, station, "change_state", {"state": 4}, key())
    assert result.outcome == Outcome.REFUSED
    assert result.code == 2021
    assert result.message == str(CODE_MESSAGES[2021])


# --- CWork's refusals, each with its sentence ---------------------------------------------


def _refusal_case(factory: Factory, case: str):
    """Set up one refusal: the station, the action and values, and the user's CWork key."""
    writable = factory.writable()
    if case == "2003":  # a station CWork no longer has
        gone = Station.objects.create(cwork_id=99, name="Gone", synced_at=timezone.now())
        return gone, "force_auto", {}, ""
    if case == "2007":
        return factory.station(NOT_MDC), "change_state", {"state": 1}, ""
    if case == "2020":
        return writable, "change_state", {"state": factory.state_now(writable.cwork_id)}, ""
    if case == "2006":  # archived in CWork, which its state list does not say
        assert not State.objects.get(cwork_id=ARCHIVED).archived
        return writable, "change_state", {"state": ARCHIVED}, ""
    if case == "2005":  # deleted in CWork since our last catalogue sync
        State.objects.create(cwork_id=50, name="Gone", synced_at=timezone.now())
        return writable, "replace_state", {"state": 50}, ""
    if case == "1001":
        return writable, "force_auto", {}, "revoked-key"
    raise AssertionError(case)


@pytest.mark.parametrize("code", [2003, 2007, 2020, 2006, 2005, 1001])
def test_cworks_own_refusals_are_explained(factory, code):
    station, action, values, cwork_key = _refusal_case(factory, str(code))
    user = make_user("sup", *ALL, cwork_key=cwork_key)
    polls = PollRecord.objects.count()

    result = perform(user, station, action, values, key())

    assert result.outcome == Outcome.REFUSED
    assert result.code == code
    assert result.message == str(CODE_MESSAGES[code])
    attempt = ActionAttempt.objects.get()
    assert attempt.cwork_code == code
    assert attempt.cwork_message
    assert len(factory.wire.writes) == 1
    assert PollRecord.objects.count() == polls  # a refusal changed nothing: no re-read


@pytest.mark.parametrize(("licenses", "code"), [((), 3001), (("dnc", "prod"), 1001)])
def test_missing_licences_are_explained(factory, licenses, code):
    """No licence at all is 3001; a missing monitor module makes the function not allowed."""
    factory.sim.api.licenses = frozenset(License(name) for name in licenses)
    user = make_user("sup", *ALL)
    result = perform(user, factory.writable(), "force_auto", {}, key())
    assert result.outcome == Outcome.REFUSED
    assert result.code == code
    assert result.message == str(CODE_MESSAGES[code])


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (1013, Outcome.REFUSED),
        (2021, Outcome.REFUSED),
        (4000, Outcome.FAILED),
        (2022, Outcome.UNKNOWN),
        (2023, Outcome.UNKNOWN),
    ],
)
def test_injected_codes_are_explained(factory, code, outcome):
    user = make_user("sup", *ALL)
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    factory.sim.faults.configure(error_rate=1.0, error_codes=[code])
    polls = PollRecord.objects.filter(kind="live").count()

    result = perform(user, station, "change_state", {"state": target}, key())

    assert result.outcome == outcome
    assert result.code == code
    assert result.message == str(CODE_MESSAGES[code])
    assert ActionAttempt.objects.get().outcome == outcome
    reread = PollRecord.objects.filter(kind="live").count() > polls
    assert reread == (outcome == Outcome.UNKNOWN)


def test_the_change_may_or_may_not_have_happened_after_a_lost_answer(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    lossy = factory.client(transport=DroppedAnswer(factory.wire))

    result = perform(user, station, "change_state", {"state": target}, key(), client=lossy)

    assert result.outcome == Outcome.UNKNOWN
    assert result.message == str(MAYBE_HAPPENED)
    assert "may or may not have happened" in result.message
    # It did happen, and the re-read shows it.
    assert LiveStatus.objects.get(station=station).state_cwork_id == target


def test_an_unreachable_cwork_changes_nothing_and_says_so(factory):
    user = make_user("sup", *ALL)
    station = factory.writable()
    down = factory.client(transport=Unreachable())
    result = perform(user, station, "force_auto", {}, key(), client=down)
    assert result.outcome == Outcome.FAILED
    assert "could not be reached" in result.message
    assert ActionAttempt.objects.get().outcome == Outcome.FAILED


# --- the station page ---------------------------------------------------------------------


def url(station: Station, action: str) -> str:
    return f"/stations/{station.pk}/actions/{action}/"


def test_a_supervisor_changes_the_state_from_the_page_with_htmx(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    k = key()

    response = client.post(
        url(station, "change_state"),
        {"state": target, "comment": "", "idempotency_key": k},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="station-actions"')
    assert str(OK_MESSAGES[Action.CHANGE_STATE]) in body
    assert k not in body  # the next submit gets a new key
    assert LiveStatus.objects.get(station=station).state_cwork_id == target
    assert ActionAttempt.objects.get(idempotency_key=uuid.UUID(k).hex).outcome == Outcome.OK


def test_without_javascript_the_whole_page_comes_back(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    response = client.post(url(station, "reset_parts"), {"part_count": 3, "idempotency_key": key()})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert 'id="station-live"' in body
    assert str(OK_MESSAGES[Action.RESET_PARTS]) in body


@pytest.mark.parametrize("who", ["anonymous", "no permission", "kiosk screen", "inactive"])
def test_who_may_not_act_gets_403_and_nothing_reaches_cwork(client, factory, who):
    station = factory.writable()
    if who == "no permission":
        client.force_login(make_user("viewer", "view_audit"))
    elif who == "inactive":
        user = make_user("gone", *ALL)
        client.force_login(user)
        user.is_active = False
        user.save()
    elif who == "kiosk screen":
        _, token = create_screen("Hall A", {}, 20, None)
        _, secret = enrol(token)
        client.cookies[DEVICE_COOKIE] = secret
    for action, values in [
        ("change_state", {"state": 1}),
        ("replace_state", {"state": 1}),
        ("force_auto", {}),
        ("reset_parts", {"part_count": 0}),
    ]:
        response = client.post(url(station, action), {**values, "idempotency_key": key()})
        assert response.status_code == 403
    assert factory.wire.requests == 0


def test_actions_are_posts_with_a_csrf_token(factory):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("sup", *ALL))
    station = factory.writable()
    assert strict.get(url(station, "force_auto")).status_code == 405
    assert strict.post(url(station, "force_auto"), {"idempotency_key": key()}).status_code == 403
    assert strict.post(url(station, "nonsense"), {}).status_code in (403, 404)
    assert factory.wire.requests == 0


def test_an_unknown_action_is_404(client, factory):
    client.force_login(make_user("sup", *ALL))
    assert client.post(url(factory.writable(), "nonsense"), {}).status_code == 404


def test_bad_input_shows_the_form_error_and_sends_nothing(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    response = client.post(
        url(station, "reset_parts"),
        {"part_count": "-4", "idempotency_key": key()},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was sent" in body
    assert 'class="error"' in body
    assert 'value="-4"' in body  # what was typed stays, to correct it
    response = client.post(
        url(station, "change_state"),
        {"state": "1", "comment": "z" * 501, "idempotency_key": key()},
        HTTP_HX_REQUEST="true",
    )
    assert "at most 500 characters" in response.content.decode()
    assert factory.wire.requests == 0


def test_a_count_above_the_target_asks_in_place_then_sends(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    target = LiveStatus.objects.get(station=station).part_target
    response = client.post(
        url(station, "reset_parts"),
        {"part_count": "1000000", "idempotency_key": key()},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="station-actions"')
    assert "Nothing was sent yet: confirm the count below." in body
    assert f"above this station&#x27;s target of {target} parts" in body
    assert 'name="confirm" value="1000000"' in body
    assert "Yes, set the count to 1000000" in body
    assert 'value="1000000"' in body  # the count typed stays in its field
    assert factory.wire.requests == 0

    # Without JavaScript: the whole page, the same question; the second submit sends.
    page = client.post(
        url(station, "reset_parts"), {"part_count": "1000000", "idempotency_key": key()}
    )
    assert "<html" in page.content.decode()
    assert 'name="confirm" value="1000000"' in page.content.decode()
    confirmed = client.post(
        url(station, "reset_parts"),
        {"part_count": "1000000", "confirm": "1000000", "idempotency_key": key()},
    )
    assert str(OK_MESSAGES[Action.RESET_PARTS]) in confirmed.content.decode()
    assert 'name="confirm"' not in confirmed.content.decode()
    assert factory.wire.writes == [f"/ResetStationPartCount/{station.cwork_id}"]


def reset_form(response) -> str:
    """The part count's form of a page or panel."""
    found = re.search(r'<form[^>]*/reset_parts/"[\s\S]*?</form>', response.content.decode())
    assert found, "no part count form"
    return found.group(0)


def submits(form: str) -> list[str]:
    """The form's submit buttons, by their text."""
    return [unescape(text).strip() for text in re.findall(r"<button[^>]*>(.*?)</button>", form)]


@pytest.mark.parametrize("htmx", [True, False], ids=["in place", "without JavaScript"])
def test_while_a_count_above_the_target_is_asked_its_answer_is_the_only_submit(
    client, factory, htmx
):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    asked = reset_form(
        client.post(
            url(station, "reset_parts"),
            {"part_count": "1000000", "idempotency_key": key()},
            **headers,
        )
    )
    # No "Confirm: reset the count" under the question: its answer, or back to the number.
    assert submits(asked) == ["Yes, set the count to 1000000", "Change the number"]
    assert re.search(r'id="reset-parts-value"[^>]*value="1000000"[^>]*readonly', asked)
    audited = ActionAttempt.objects.count()

    back = reset_form(
        client.post(
            url(station, "reset_parts"),
            {"part_count": "1000000", "edit_count": "1", "idempotency_key": key()},
            **headers,
        )
    )
    assert submits(back) == ["Confirm: reset the count"]
    assert re.search(r'id="reset-parts-value"[^>]*value="1000000"[^>]*autofocus', back)
    assert "readonly" not in back
    assert "confirm-above" not in back
    assert ActionAttempt.objects.count() == audited  # nothing checked, sent or recorded
    assert factory.wire.requests == 0

    # The number changed: asked again, for that number.
    again = reset_form(
        client.post(
            url(station, "reset_parts"),
            {"part_count": "999999", "idempotency_key": key()},
            **headers,
        )
    )
    assert submits(again) == ["Yes, set the count to 999999", "Change the number"]
    assert factory.wire.requests == 0


def test_changing_the_number_is_for_those_who_may_reset_the_count(client, factory):
    client.force_login(make_user("op", "change_station_state"))
    station = factory.writable()
    response = client.post(
        url(station, "reset_parts"),
        {"part_count": "1000000", "edit_count": "1", "idempotency_key": key()},
    )
    assert response.status_code == 403


def test_a_double_submit_from_the_page_sends_once(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    target = other_state(factory.sim, station.cwork_id)
    form = {"state": target, "idempotency_key": key()}
    first = client.post(url(station, "change_state"), form, HTTP_HX_REQUEST="true")
    second = client.post(url(station, "change_state"), form, HTTP_HX_REQUEST="true")
    assert first.status_code == second.status_code == 200
    assert str(OK_MESSAGES[Action.CHANGE_STATE]) in second.content.decode()
    assert len(factory.wire.writes) == 1


def test_each_code_shows_its_message_on_the_page(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.station(NOT_MDC)
    response = client.post(
        url(station, "change_state"), {"state": 1, "idempotency_key": key()}, HTTP_HX_REQUEST="true"
    )
    assert str(CODE_MESSAGES[2007]) in response.content.decode()
    factory.sim.faults.configure(error_rate=1.0, error_codes=[2023])
    response = client.post(
        url(factory.writable(), "force_auto"), {"idempotency_key": key()}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "may or may not have happened" in body
    assert 'data-outcome="unknown"' in body


def test_the_panel_offers_the_reason_tree_most_used_first(client, factory):
    client.force_login(make_user("sup", *ALL))
    State.objects.filter(cwork_id=ARCHIVED).update(archived=True)
    station = factory.writable()
    now = timezone.now()
    states = {state.cwork_id: state for state in State.objects.all()}
    for minutes, handle in enumerate([8, 8, 8, 5, 5, 0]):
        Top.objects.create(
            station=station,
            start=now - timedelta(days=2, minutes=minutes),
            state=states[handle],
            state_cwork_id=handle,
        )
    Top.objects.create(  # too old to count
        station=station,
        start=now - timedelta(days=40),
        state=states[11],
        state_cwork_id=11,
    )

    body = client.get(f"/stations/{station.pk}/").content.decode()

    panel = body[body.index('id="station-actions"') :]
    # From the list's heading: the "Now: …" line above it names the station's current state.
    most_used = panel[panel.index("Most used here") : panel.index("All reasons")]
    assert most_used.index("No material") < most_used.index("Spindle failure")
    assert "Preventive maintenance" not in most_used
    assert "Rework (old)" not in panel  # archived: hidden
    tree = panel[panel.index("All reasons") :]
    assert tree.index("Breakdown") < tree.index("Spindle failure") < tree.index("Setting")
    assert states[1].color in tree
    assert "merge" in panel  # replace explains the doc's rule
    assert f'action="/stations/{station.pk}/actions/force_auto/"' in panel
    assert 'name="idempotency_key"' in panel
    assert "min-height: 48px" in panel


def test_the_panel_is_shown_only_to_those_who_can_act(client, factory):
    client.force_login(make_user("viewer"))
    station = factory.writable()
    body = client.get(f"/stations/{station.pk}/").content.decode()
    assert 'id="station-actions"' not in body
    client.force_login(make_user("resetter", "reset_part_count"))
    body = client.get(f"/stations/{station.pk}/").content.decode()
    assert 'id="station-actions"' in body
    assert "Reset part count" in body
    assert "Force automatic state" not in body
    assert "All reasons" not in body


# --- issue 16: archived reasons, each form's own errors -----------------------------------


def test_a_reason_cworks_refuses_as_archived_is_hidden_from_then_on(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    page = client.get(f"/stations/{station.pk}/").content.decode()
    assert "Rework (old)" in page  # CWork's list does not say it is archived
    response = client.post(
        url(station, "change_state"),
        {"state": ARCHIVED, "idempotency_key": key()},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "This reason is archived in CWork; it has been removed from the list." in body
    assert "Rework (old)" not in body
    assert State.objects.get(cwork_id=ARCHIVED).archived
    with factory.client() as cwork:  # the next catalogue sync does not offer it again
        assert run_job("catalogue", client=cwork, publish=lambda event: None).ok
    assert State.objects.get(cwork_id=ARCHIVED).archived
    assert "Rework (old)" not in client.get(f"/stations/{station.pk}/").content.decode()


def test_an_administrator_marks_and_unmarks_an_archived_reason(client, factory):
    admin = get_user_model().objects.create_superuser("root", password="x" * 12)
    client.force_login(admin)
    state = State.objects.get(cwork_id=ARCHIVED)
    for action, archived in (("mark_archived", True), ("unmark_archived", False)):
        response = client.post(
            "/admin/stations/state/", {"action": action, "_selected_action": [state.pk]}
        )
        assert response.status_code == 302
        state.refresh_from_db()
        assert state.archived is archived


def test_each_state_form_shows_only_its_own_errors(client, factory):
    client.force_login(make_user("sup", *ALL))
    station = factory.writable()
    response = client.post(
        url(station, "change_state"),
        {"state": "nonsense", "idempotency_key": key()},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    change = body[: body.index("Replace current state</summary>")]
    replace = body[body.index("Replace current state</summary>") :]
    assert "Choose a reason from the list." in change
    assert "Choose a reason from the list." not in replace
