"""The managers' alert pages: rules are created and edited with their scope and levels, bad
input is refused with a clear error and nothing stored, other roles get a 403, a webhook's
secret never comes back, a test reaches each recipient (or says why not), and a station's
page lists its alerts.

Stations and states come from the simulated factory through the real sync.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, AlertRule, Condition, Delivery, EscalationLevel, Webhook
from kpis.models import Calendar, Shift
from stations.jobs import run_job
from stations.models import State, Station
from tests.lookups import present
from tests.security.test_access import user_in

pytestmark = pytest.mark.django_db

SECRET = "whsec-Never-Shown-7f3a9c"
URL_TOKEN = "tok3nInTheQuery998877"


@pytest.fixture
def synced(cwork, clock) -> None:
    """The factory's stations, states and live status, as a poll stores them."""
    for kind in ("catalogue", "live"):
        result = run_job(kind, client=cwork, now=clock(), publish=lambda event: None)
        assert result.ok, result.reason


@pytest.fixture
def manager(client: Client, synced) -> Any:
    user = user_in("Manager", "maria", email="maria@plant.example")
    client.force_login(user)
    return user


def first_group(station: Station) -> str:
    return station.dnc_group or next(g for g in station.mdc_groups if g)


def level_rows(*levels: dict[str, Any], initial: int = 0) -> dict[str, Any]:
    """The levels part of the form: the given rows, then untouched empty rows up to three."""
    data: dict[str, Any] = {
        "levels-TOTAL_FORMS": "3",
        "levels-INITIAL_FORMS": str(initial),
        "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": "3",
    }
    for index in range(3):
        row = levels[index] if index < len(levels) else {}
        # What the page shows in an empty row: the next number, 15 minutes apart.
        data[f"levels-{index}-level"] = str(row.get("level", index + 1))
        data[f"levels-{index}-delay_minutes"] = str(row.get("delay_minutes", 15 * index))
        for name in ("id", "emails", "users", "webhooks", "DELETE"):
            if name in row:
                data[f"levels-{index}-{name}"] = row[name]
    return data


def rule_data(**fields: Any) -> dict[str, Any]:
    data = {
        "name": "Long breakdown",
        "enabled": "on",
        "condition": Condition.STATE,
        "states": [present(State.objects.filter(archived=False).order_by("pk").first()).pk],
        "minutes": "10",
        "stop_category": "",
        "alarm_code": "",
        "alarm_pattern": "",
        "threshold_percent": "",
        "repeat_minutes": "30",
        "max_per_hour": "20",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(response) -> str:
    return response.content.decode()


# --- creating and editing -------------------------------------------------------------------


def test_a_manager_creates_a_rule_with_its_scope_shifts_and_two_levels(client, manager):
    stations = list(Station.objects.order_by("name")[:2])
    workshop = next(s.workshop for s in Station.objects.order_by("pk") if s.workshop)
    group = first_group(present(Station.objects.exclude(dnc_group="", mdc_groups=[]).first()))
    calendar = Calendar.objects.create(name="3x8", is_default=True)
    morning = Shift.objects.create(calendar=calendar, name="Morning", start=time(6), end=time(14))
    hook = Webhook.objects.create(name="Chat", url="https://chat.example/x", format="json")
    page = client.get("/alerts/new/")
    assert page.status_code == 200
    assert "maria@plant.example" in page.content.decode()
    assert "3x8 · Morning" in page.content.decode()

    response = client.post(
        "/alerts/new/",
        {
            **rule_data(
                stations=[s.pk for s in stations],
                workshops=[workshop],
                groups=[group],
                shifts=[morning.pk],
                # Belongs to another condition: not kept, and not an error.
                alarm_pattern="(",
            ),
            **level_rows(
                {"level": 1, "delay_minutes": 0, "users": [manager.pk]},
                {
                    "level": 2,
                    "delay_minutes": 30,
                    "emails": "boss@plant.example\n\n night@plant.example ",
                    "webhooks": [hook.pk],
                },
            ),
        },
    )

    assert response.status_code == 303, errors_of(response)
    rule = AlertRule.objects.get()
    assert response["Location"] == f"/alerts/{rule.pk}/"
    assert rule.name == "Long breakdown"
    assert rule.condition == Condition.STATE
    assert rule.minutes == 10
    assert rule.enabled
    assert rule.alarm_pattern == ""
    assert rule.created_by == manager
    assert {s.pk for s in rule.stations.all()} == {s.pk for s in stations}
    assert rule.workshops == [workshop]
    assert rule.groups == [group]
    assert list(rule.shifts.all()) == [morning]
    first, second = rule.levels.order_by("level")
    assert (first.level, first.delay_minutes, first.addresses()) == (
        1,
        0,
        ["maria@plant.example"],
    )
    assert (second.level, second.delay_minutes) == (2, 30)
    assert second.addresses() == ["boss@plant.example", "night@plant.example"]
    assert list(second.webhooks.all()) == [hook]

    assert "Rule “Long breakdown” created." in client.get(response["Location"]).content.decode()
    listing = client.get("/alerts/").content.decode()
    assert "Long breakdown" in listing
    assert "boss@plant.example" in listing
    assert "3x8 · Morning" in listing
    assert workshop in listing


def test_editing_swaps_and_removes_levels(client, manager):
    rule = AlertRule.objects.create(name="Alarm", condition=Condition.ALARM, alarm_code="E1")
    one = EscalationLevel.objects.create(rule=rule, level=1, delay_minutes=0, emails="a@x.example")
    two = EscalationLevel.objects.create(rule=rule, level=2, delay_minutes=0, emails="b@x.example")
    three = EscalationLevel.objects.create(rule=rule, level=3, delay_minutes=5, emails="c@x.ex")
    assert client.get(f"/alerts/{rule.pk}/").status_code == 200

    response = client.post(
        f"/alerts/{rule.pk}/",
        {
            **rule_data(
                name="Alarm",
                condition=Condition.ALARM,
                states=None,
                alarm_code="E1",
                alarm_pattern="spindle|coolant",
            ),
            **level_rows(
                {"id": one.pk, "level": 2, "delay_minutes": 0, "emails": "a@x.example"},
                {"id": two.pk, "level": 1, "delay_minutes": 0, "emails": "b@x.example"},
                {
                    "id": three.pk,
                    "level": 3,
                    "delay_minutes": 5,
                    "emails": "c@x.ex",
                    "DELETE": "on",
                },
                initial=3,
            ),
        },
    )

    assert response.status_code == 303, errors_of(response)
    rule.refresh_from_db()
    assert rule.alarm_pattern == "spindle|coolant"
    assert [(lv.level, lv.emails) for lv in rule.levels.order_by("level")] == [
        (1, "b@x.example"),
        (2, "a@x.example"),
    ]


#: Each case: the rule's fields, its level rows (none: one valid level) and the message shown.
BAD_INPUTS: dict[str, tuple[dict[str, Any], tuple[dict[str, Any], ...], str]] = {
    "bad regex": (
        {"condition": Condition.ALARM, "alarm_pattern": "spindle(", "states": None},
        (),
        "not a valid regular expression",
    ),
    "alarm with neither code nor pattern": (
        {"condition": Condition.ALARM, "states": None},
        (),
        "Give an alarm code, a message pattern, or both.",
    ),
    "no state chosen": ({"states": None}, (), "Choose at least one state."),
    "no recipient": (
        {},
        ({"level": 1, "delay_minutes": 5},),
        "Level 1 tells no one",
    ),
    "a typed address that is not one": (
        {},
        ({"level": 1, "delay_minutes": 0, "emails": "ops@plant.example\nnot an address"},),
        "Not e-mail addresses: not an address",
    ),
    "delays decreasing": (
        {},
        (
            {"level": 1, "delay_minutes": 30, "emails": "a@plant.example"},
            {"level": 2, "delay_minutes": 10, "emails": "b@plant.example"},
        ),
        "a later level must not come sooner",
    ),
    "a level number twice": (
        {},
        (
            {"level": 1, "delay_minutes": 0, "emails": "a@plant.example"},
            {"level": 1, "delay_minutes": 10, "emails": "b@plant.example"},
        ),
        "Each level number may be used once.",
    ),
    "behind pace without threshold": (
        {"condition": Condition.BEHIND_PACE, "states": None},
        (),
        "Give how far behind pace",
    ),
    "shift OEE without target": (
        {"condition": Condition.SHIFT_OEE, "states": None, "minutes": ""},
        (),
        "Give the OEE target",
    ),
    "threshold over 100": (
        {"condition": Condition.SHIFT_OEE, "states": None, "threshold_percent": "140"},
        (),
        "less than or equal to 100",
    ),
    "a workshop no station has": (
        {"workshops": ["Nowhere hall"]},
        (),
        "Select a valid choice. Nowhere hall is not one of the available choices.",
    ),
    "a group no station has": (
        {"groups": ["Ghost group"]},
        (),
        "Ghost group is not one of the available choices.",
    ),
    "huge minutes": ({"minutes": "9" * 30}, (), "less than or equal to"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_explained_kept_and_nothing_is_stored(client, manager, case):
    fields, levels, message = BAD_INPUTS[case]
    typed_name = "Spindle <watch> & co"
    response = client.post(
        "/alerts/new/",
        {
            **rule_data(name=typed_name, **fields),
            **level_rows(*levels or ({"level": 1, "emails": "kept@plant.example"},)),
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "The rule was not saved" in page
    assert message in page.replace("&#x27;", "'").replace("&quot;", '"')
    # What was typed is still there.
    assert 'value="Spindle &lt;watch&gt; &amp; co"' in page
    assert "kept@plant.example" in page or levels
    assert not AlertRule.objects.exists()
    assert not EscalationLevel.objects.exists()


def test_garbage_never_makes_a_500(client, manager):
    for data in (
        {},
        {"name": "\x00", "condition": "nonsense", "levels-TOTAL_FORMS": "x"},
        {**rule_data(states=["abc", "-1"]), **level_rows()},
        {**rule_data(), **level_rows(), "levels-TOTAL_FORMS": "1000000"},
        {**rule_data(), **level_rows({"level": "7", "users": ["zz"], "webhooks": ["999"]})},
    ):
        assert client.post("/alerts/new/", data).status_code == 400
    assert client.get("/alerts/999999/").status_code == 404
    assert client.get("/alerts/999999/history/?page=zz").status_code == 404
    assert not AlertRule.objects.exists()


def test_a_user_without_an_e_mail_cannot_be_chosen(client, manager):
    mute = user_in(None, "mute")
    page = client.get("/alerts/new/").content.decode()
    assert f'name="levels-0-users" value="{manager.pk}"' in page
    assert f'name="levels-0-users" value="{mute.pk}"' not in page
    response = client.post(
        "/alerts/new/", {**rule_data(), **level_rows({"level": 1, "users": [mute.pk]})}
    )
    assert response.status_code == 400
    assert not AlertRule.objects.exists()


def test_toggle_and_delete_ask_then_act(client, manager):
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    assert client.get(f"/alerts/{rule.pk}/toggle/").status_code == 200
    rule.refresh_from_db()
    assert rule.enabled
    response = client.post(
        f"/alerts/{rule.pk}/toggle/", {"enabled": "0", "next": "https://evil.example/"}
    )
    assert response.status_code == 303
    assert response["Location"] == "/alerts/"
    rule.refresh_from_db()
    assert not rule.enabled
    # The same click again does not undo it.
    client.post(f"/alerts/{rule.pk}/toggle/", {"enabled": "0"})
    rule.refresh_from_db()
    assert not rule.enabled

    confirm = client.get(f"/alerts/{rule.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete the rule" in confirm.content.decode()
    assert AlertRule.objects.filter(pk=rule.pk).exists()
    response = client.post(f"/alerts/{rule.pk}/delete/")
    assert response.status_code == 303
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Viewer", "Operator", "Supervisor"])
def test_other_roles_get_a_403_and_change_nothing(client, synced, role):
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    EscalationLevel.objects.create(rule=rule, level=1, emails="ops@plant.example")
    hook = Webhook.objects.create(name="Chat", url="https://chat.example/x", format="json")
    client.force_login(user_in(role))
    urls = [
        "/alerts/",
        "/alerts/new/",
        f"/alerts/{rule.pk}/",
        f"/alerts/{rule.pk}/toggle/",
        f"/alerts/{rule.pk}/delete/",
        f"/alerts/{rule.pk}/test/",
        f"/alerts/{rule.pk}/history/",
        "/alerts/webhooks/",
        "/alerts/webhooks/new/",
        f"/alerts/webhooks/{hook.pk}/",
        f"/alerts/webhooks/{hook.pk}/delete/",
    ]
    for url in urls:
        assert client.get(url).status_code in (403, 405), url
        response = client.post(url, {**rule_data(name="Hijack"), "enabled": "0", "name": "X"})
        assert response.status_code in (403, 405), url
        assert 403 in (client.get(url).status_code, response.status_code), url
    rule.refresh_from_db()
    assert rule.enabled
    assert rule.name == "Offline"
    assert AlertRule.objects.count() == 1
    assert Webhook.objects.get().name == "Chat"
    assert not Delivery.objects.exists()
    assert 'href="/alerts/"' not in client.get("/stations/").content.decode()


# --- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_secret_and_url_token_never_appear_in_any_page(client, manager, admin_client):
    url = f"https://chat.example/services/T01/{URL_TOKEN}?token={URL_TOKEN}"
    response = client.post(
        "/alerts/webhooks/new/",
        {"name": "Chat", "url": url, "format": "slack", "enabled": "on", "secret": SECRET},
    )
    assert response.status_code == 303
    hook = Webhook.objects.get()
    assert (hook.url, hook.secret) == (url, SECRET)
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    EscalationLevel.objects.create(rule=rule, level=1).webhooks.add(hook)

    # Saved again with the secret and URL left blank: both kept.
    response = client.post(
        f"/alerts/webhooks/{hook.pk}/",
        {"name": "Team chat", "url": "", "format": "slack", "enabled": "on", "secret": ""},
    )
    assert response.status_code == 303
    hook.refresh_from_db()
    assert (hook.name, hook.url, hook.secret) == ("Team chat", url, SECRET)
    # An error re-renders without what was typed in the secret field.
    refused = client.post(
        f"/alerts/webhooks/{hook.pk}/",
        {"name": "", "url": "ftp://files.example/x", "format": "slack", "secret": SECRET + "!"},
    )
    assert refused.status_code == 400
    assert "This field is required." in refused.content.decode()
    assert "Give an http or https address." in refused.content.decode()

    pages = [
        refused,
        client.get("/alerts/webhooks/"),
        client.get(f"/alerts/webhooks/{hook.pk}/"),
        client.get(f"/alerts/webhooks/{hook.pk}/delete/"),
        client.get("/alerts/"),
        client.get(f"/alerts/{rule.pk}/"),
        client.get(f"/alerts/{rule.pk}/test/"),
        client.get(f"/alerts/{rule.pk}/history/"),
        admin_client.get("/admin/alerts/webhook/"),
        admin_client.get(f"/admin/alerts/webhook/{hook.pk}/change/"),
    ]
    for page in pages:
        assert page.status_code in (200, 400)
        body = page.content.decode()
        assert SECRET not in body
        assert URL_TOKEN not in body
    listing = client.get("/alerts/webhooks/").content.decode()
    assert "https://chat.example/services/T01/…?…" in listing
    hook.refresh_from_db()
    assert hook.secret == SECRET

    # The secret can be removed on purpose.
    client.post(
        f"/alerts/webhooks/{hook.pk}/",
        {"name": "Team chat", "format": "slack", "enabled": "on", "clear_secret": "on"},
    )
    hook.refresh_from_db()
    assert hook.secret == ""
    assert hook.url == url

    assert client.post(f"/alerts/webhooks/{hook.pk}/delete/").status_code == 303
    assert not Webhook.objects.exists()


# --- the test button ----------------------------------------------------------------------------


@contextmanager
def receiver(status: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver answering ``status`` to every POST; what it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length) or b"{}"))
            body = b"ok" if status < 400 else b"receiver down"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_send_test_shows_each_recipients_result(client, manager, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    with receiver(200) as (good_url, good_got), receiver(500) as (bad_url, bad_got):
        good = Webhook.objects.create(name="Good hook", url=good_url, format="json")
        bad = Webhook.objects.create(name="Broken hook", url=bad_url, format="json")
        first = EscalationLevel.objects.create(rule=rule, level=1, emails="ops@plant.example")
        first.webhooks.add(good)
        second = EscalationLevel.objects.create(rule=rule, level=2, delay_minutes=10)
        second.webhooks.add(bad)

        page = client.get(f"/alerts/{rule.pk}/")
        assert f'action="/alerts/{rule.pk}/test/"' in page.content.decode()
        posted = client.post(f"/alerts/{rule.pk}/test/")
        # Post, then see the result on a page of its own: reloading it sends nothing again.
        assert posted.status_code == 303
        assert posted["Location"].startswith(f"/alerts/{rule.pk}/test/?sent=")
        response = client.get(posted["Location"])

    assert response.status_code == 200
    results = response.content.decode().split('id="results"', 1)[1].split("</ul>", 1)[0]
    rows = {line for line in results.split("<li") if "recipient" in line}
    by_recipient = {}
    for row in rows:
        name = row.split('class="recipient">', 1)[1].split("<", 1)[0]
        by_recipient[name] = row.split('class="status">', 1)[1].split("</span>", 1)[0]
    assert by_recipient["ops@plant.example"] == "sent"
    assert by_recipient["Good hook"] == "sent"
    assert by_recipient["Broken hook"].startswith("failed: ")
    assert "HTTP 500" in by_recipient["Broken hook"]
    assert "will retry at" in by_recipient["Broken hook"]

    assert len(good_got) == 1
    assert len(bad_got) == 1
    assert [m.to for m in mail.outbox] == [["ops@plant.example"]]
    tests = Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST)
    assert sorted(tests.values_list("recipient", "status")) == [
        ("Broken hook", Delivery.Status.PENDING),
        ("Good hook", Delivery.Status.SENT),
        ("ops@plant.example", Delivery.Status.SENT),
    ]
    broken = tests.get(recipient="Broken hook")
    assert broken.attempts == 1
    assert broken.next_attempt_at is not None
    local = timezone.localtime(broken.next_attempt_at).strftime("%d/%m/%Y %H:%M:%S")
    assert local in by_recipient["Broken hook"]
    # The history keeps the tests.
    history = client.get(f"/alerts/{rule.pk}/history/").content.decode()
    assert "Broken hook" in history
    assert "Latest tests" in history


def test_reloading_a_tests_result_sends_nothing_again(client, manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    EscalationLevel.objects.create(rule=rule, level=1, emails="ops@plant.example")
    page = client.post(f"/alerts/{rule.pk}/test/", follow=True)
    assert 'id="results"' in page.content.decode()
    for _reload in range(3):
        again = client.get(page.request["PATH_INFO"] + "?" + page.request["QUERY_STRING"])
        assert 'class="recipient">ops@plant.example<' in again.content.decode()
    assert Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST).count() == 1
    assert len(mail.outbox) == 1
    # A garbled or foreign time shows no result and never a 500.
    for value in ("yesterday", "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00"):
        shown = client.get(f"/alerts/{rule.pk}/test/", {"sent": value})
        assert shown.status_code == 200
        assert 'recipient">ops' not in shown.content.decode()


def test_send_test_on_a_rule_that_tells_no_one_says_so(client, manager):
    rule = AlertRule.objects.create(name="Quiet", condition=Condition.NOT_REPORTING)
    page = client.get(f"/alerts/{rule.pk}/test/").content.decode()
    assert "no one to send a test to" in page
    response = client.post(f"/alerts/{rule.pk}/test/", follow=True)
    assert response.redirect_chain[-1][1] == 303
    assert "Nothing was sent: this rule has no recipient." in response.content.decode()
    assert not Delivery.objects.exists()


# --- the history --------------------------------------------------------------------------------


def make_alerts(rule: AlertRule, station: Station, count: int, **fields: Any) -> list[Alert]:
    now = timezone.now().replace(microsecond=0)
    alerts = []
    for index in range(count):
        since = now - timedelta(hours=index + 1)
        alerts.append(
            Alert.objects.create(
                rule=rule,
                station=station,
                status=Alert.Status.RESOLVED,
                since=since,
                fired_at=since + timedelta(minutes=5),
                resolved_at=since + timedelta(minutes=47),
                level=1,
                summary=f"stopped: Breakdown #{index}",
                **fields,
            )
        )
    return alerts


def test_the_rule_history_pages_alerts_with_their_messages(client, manager):
    rule = AlertRule.objects.create(name="Breakdown", condition=Condition.STOP, stop_category="any")
    station, other = Station.objects.order_by("name")[:2]
    alerts = make_alerts(rule, station, 30)
    make_alerts(rule, other, 1)
    Delivery.objects.create(
        alert=alerts[0],
        rule=rule,
        kind=Delivery.Kind.FIRED,
        channel=Delivery.Channel.EMAIL,
        level=1,
        recipient="ops@plant.example",
        status=Delivery.Status.FAILED,
        attempts=6,
        last_error="The mail server refused the address.",
        created_at=present(alerts[0].fired_at),
    )

    first = client.get(f"/alerts/{rule.pk}/history/").content.decode()
    assert "stopped: Breakdown #0" in first
    assert "Page 1 of 2" in first
    assert "ops@plant.example" in first
    assert "failed: The mail server refused the address (no more attempts)" in first
    assert "6 attempts" in first
    local = timezone.localtime(alerts[0].since).strftime("%d/%m/%Y %H:%M")
    assert local in first
    assert "47 min" in first  # from the condition's start to its end
    only = client.get(f"/alerts/{rule.pk}/history/?station={other.pk}").content.decode()
    assert only.count('id="alert-') == 1
    assert client.get(f"/alerts/{rule.pk}/history/?page=2").status_code == 200
    assert client.get(f"/alerts/{rule.pk}/history/?page=zz&station=x").status_code == 200


# --- the station page ---------------------------------------------------------------------------


def test_the_station_page_lists_the_stations_alerts(client, synced):
    rule = AlertRule.objects.create(name="Breakdown rule", condition=Condition.STOP)
    station, other = Station.objects.order_by("name")[:2]
    now = timezone.now().replace(microsecond=0)
    make_alerts(rule, station, 1)
    Alert.objects.create(
        rule=rule,
        station=station,
        status=Alert.Status.FIRING,
        since=now - timedelta(minutes=20),
        fired_at=now - timedelta(minutes=15),
        level=2,
        summary="stopped: Tool change",
    )
    quiet = AlertRule.objects.create(name="Quiet rule", condition=Condition.NOT_REPORTING)
    make_alerts(quiet, station, 1, suppressed=True)
    Alert.objects.filter(rule=quiet).update(summary="not reporting to CWork", level=0)
    make_alerts(rule, other, 1)
    Alert.objects.filter(station=other).update(summary="elsewhere")
    Alert.objects.create(
        rule=quiet,
        station=station,
        status=Alert.Status.PENDING,
        since=now,
        summary="not yet held long enough",
    )

    viewer = get_user_model().objects.create_user("vera", password="x" * 12)
    client.force_login(viewer)
    page = client.get(f"/stations/{station.pk}/").content.decode()
    section = page.split('id="station-alerts"', 1)[1]
    assert "stopped: Tool change" in section.split("<h3>", 2)[1]  # open now
    assert "stopped: Breakdown #0" in section
    assert "not sent (rate limit)" in section
    assert "Breakdown rule" in section
    assert "Quiet rule" in section
    assert "elsewhere" not in section
    assert "not yet held long enough" not in section
    assert "/history/" not in section  # the rule's history is for managers

    client.force_login(user_in("Manager", "mona"))
    page = client.get(f"/stations/{station.pk}/").content.decode()
    assert f"/alerts/{rule.pk}/history/?station={station.pk}" in page
    assert 'href="/alerts/"' in page  # the nav link
    # The refresh of the day does not carry the section.
    fragment = client.get(f"/stations/{station.pk}/", headers={"HX-Request": "true"})
    assert "station-alerts" not in fragment.content.decode()


def test_admin_shows_history_read_only(admin_client, synced):
    rule = AlertRule.objects.create(name="Offline", condition=Condition.NOT_REPORTING)
    alert = make_alerts(rule, present(Station.objects.first()), 1)[0]
    assert admin_client.get("/admin/alerts/alertrule/").status_code == 200
    assert admin_client.get(f"/admin/alerts/alertrule/{rule.pk}/change/").status_code == 200
    assert admin_client.get("/admin/alerts/alertrule/add/").status_code == 200
    assert admin_client.get("/admin/alerts/webhook/add/").status_code == 200
    assert admin_client.get("/admin/alerts/alert/").status_code == 200
    assert admin_client.get("/admin/alerts/alert/add/").status_code == 403
    assert admin_client.post(f"/admin/alerts/alert/{alert.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/alerts/delivery/add/").status_code == 403
    assert Alert.objects.filter(pk=alert.pk).exists()
