"""The audit trail: readable and exportable by those allowed, never editable or deletable."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import ProtectedError
from django.test import RequestFactory
from django.utils import timezone

from audit.admin import ActionAttemptAdmin
from audit.models import ActionAttempt, Outcome
from stations.models import State, Station

pytestmark = pytest.mark.django_db


def make_user(name: str, *codenames: str, **extra):
    user = get_user_model().objects.create_user(name, password="x" * 12, **extra)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)


def station(handle: int, name: str) -> Station:
    return Station.objects.create(cwork_id=handle, name=name, synced_at=timezone.now())


def attempt(user, where: Station, action: str, when: datetime, outcome=Outcome.OK, **extra):
    return ActionAttempt.objects.create(
        user=user,
        username=user.get_username(),
        started_at=when,
        station=where,
        station_cwork_id=where.cwork_id,
        action=action,
        values=extra.pop("values", {}),
        idempotency_key=extra.pop("key", f"{user.pk}-{where.pk}-{action}-{when.isoformat()}"),
        outcome=outcome,
        **extra,
    )


@pytest.fixture
def trail():
    alice, bob = make_user("alice"), make_user("bob")
    lathe, mill = station(1, "Lathe 1"), station(2, "Mill 2")
    rows = {
        "a1": attempt(
            alice,
            lathe,
            "change_state",
            datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
            values={"state": 3, "comment": "=HYPERLINK(1)"},
        ),
        "a2": attempt(
            alice,
            mill,
            "reset_parts",
            datetime(2026, 11, 10, 8, 0, tzinfo=UTC),
            values={"part_count": 0},
        ),
        "b1": attempt(
            bob,
            lathe,
            "force_auto",
            datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
            Outcome.REFUSED,
            cwork_code=2007,
            cwork_message="This station is not in MDC mode",
        ),
    }
    return {"alice": alice, "bob": bob, "lathe": lathe, "mill": mill, **rows}


@pytest.fixture
def auditor(client):
    client.force_login(make_user("auditor", "view_audit"))
    return client


# --- the page -----------------------------------------------------------------------------


def test_the_page_needs_the_audit_permission(client, trail):
    assert client.get("/audit/").status_code == 302  # to log in
    client.force_login(make_user("someone"))
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


def test_the_page_lists_every_attempt_newest_first(auditor, trail):
    page = auditor.get("/audit/").content.decode()
    body = page[page.index("<tbody>") :]
    assert body.index("force automatic state") < body.index("reset part count")
    assert body.index("reset part count") < body.index("change state")
    assert "2007" in body
    assert "This station is not in MDC mode" in body
    assert "refused by CWork" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda t: {"station": t["lathe"].pk}, {"a1", "b1"}),
        (lambda t: {"user": t["alice"].pk}, {"a1", "a2"}),
        (lambda t: {"action": "reset_parts"}, {"a2"}),
        (lambda t: {"outcome": "refused"}, {"b1"}),
        (lambda t: {"start": "2026-11-05"}, {"a2", "b1"}),
        (lambda t: {"start": "2026-11-05", "end": "2026-11-10"}, {"a2"}),
        (lambda t: {"user": t["alice"].pk, "end": "2026-11-03"}, {"a1"}),
    ],
)
def test_filters_narrow_the_list_and_the_export(auditor, trail, query, expected):
    params = query(trail)
    page = auditor.get("/audit/", params)
    assert {row.pk for row in page.context["page"]} == {trail[name].pk for name in expected}
    export = auditor.get("/audit/export.csv", params)
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert sorted(row["idempotency_key"] for row in rows) == sorted(
        trail[name].idempotency_key for name in expected
    )


def test_a_reason_shows_by_its_name_with_its_id_on_hover(auditor, trail):
    State.objects.create(cwork_id=3, name="Tool change", synced_at=timezone.now())
    page = auditor.get("/audit/").content.decode()
    body = page[page.index("<tbody>") :]
    assert "state=3" not in body
    assert 'Reason: <span title="CWork state id 3">Tool change</span>' in body
    assert "Comment: <span>=HYPERLINK(1)</span>" in body
    assert "New initial count: <span>0</span>" in body


def test_a_reason_gone_from_the_catalogue_shows_its_id_as_unknown(auditor, trail):
    user = trail["alice"]
    attempt(
        user,
        trail["mill"],
        "replace_state",
        datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        values={"state": 9},
    )
    attempt(  # refused here: the text typed is kept as it came
        user,
        trail["mill"],
        "change_state",
        datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        Outcome.INVALID,
        values={"state": "nine", "comment": None},
    )
    attempt(
        user,
        trail["mill"],
        "change_state",
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        Outcome.INVALID,
        values={"state": "99999999999999999999999"},
    )
    State.objects.create(
        cwork_id=4, name="Old setup", present_in_cwork=False, synced_at=timezone.now()
    )
    attempt(
        user,
        trail["mill"],
        "change_state",
        datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        values={"state": 4},
    )
    response = auditor.get("/audit/")
    assert response.status_code == 200
    body = response.content.decode()
    body = body[body.index("<tbody>") :]
    assert (
        '<span class="audit-value unknown">Reason: '
        '<span title="CWork state id 9">unknown state (id 9)</span></span>'
    ) in body
    assert "Reason: <span>nine</span>" in body
    assert "unknown state (id 99999" not in body
    assert "Reason: <span>99999999999999999999999</span>" in body
    assert (
        'Reason: <span title="CWork state id 4 · no longer listed by CWork">Old setup</span>'
    ) in body


def test_the_trail_reads_the_reasons_in_one_query(auditor, trail, django_assert_max_num_queries):
    for n in range(30):
        State.objects.create(cwork_id=100 + n, name=f"Reason {n}", synced_at=timezone.now())
        attempt(
            trail["bob"],
            trail["lathe"],
            "change_state",
            datetime(2026, 11, 25, 8, n, tzinfo=UTC),
            values={"state": 100 + n},
        )
    with django_assert_max_num_queries(12) as queries:
        body = auditor.get("/audit/").content.decode()
    assert "Reason 29" in body
    assert sum("stations_state" in q["sql"] for q in queries.captured_queries) == 1


def test_a_bad_filter_lists_nothing_rather_than_everything(auditor, trail):
    page = auditor.get("/audit/", {"start": "yesterday"})
    assert page.status_code == 200
    assert list(page.context["page"]) == []


def test_the_csv_export_contains_the_rows(auditor, trail):
    response = auditor.get("/audit/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 3
    refused = next(row for row in rows if row["action"] == "force_auto")
    assert refused["user"] == "bob"
    assert refused["station"] == "Lathe 1"
    assert refused["station_cwork_id"] == "1"
    assert refused["outcome"] == "refused"
    assert refused["cwork_code"] == "2007"
    assert refused["cwork_message"] == "This station is not in MDC mode"
    changed = next(row for row in rows if row["action"] == "change_state")
    # A typed comment never becomes a spreadsheet formula.
    assert changed["values"] == "state=3; comment==HYPERLINK(1)"
    assert changed["started_at"].startswith("2026-11-02T09:00:00")  # the plant's time


def test_the_page_and_export_are_get_only(auditor, trail):
    assert auditor.post("/audit/").status_code == 405
    assert auditor.post("/audit/export.csv").status_code == 405


# --- nothing is editable or deletable -----------------------------------------------------


def test_the_admin_lists_but_cannot_add_change_or_delete(client, trail):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    row = trail["b1"]
    base = "/admin/audit/actionattempt/"

    listing = client.get(base, {"outcome__exact": "refused"})
    assert listing.status_code == 200
    assert "bob" in listing.content.decode()
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    detail = client.get(f"{base}{row.pk}/change/")
    assert detail.status_code == 200  # read-only view
    assert 'name="_save"' not in detail.content.decode()
    client.post(f"{base}{row.pk}/change/", {"username": "mallory", "outcome": "ok"})
    client.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    row.refresh_from_db()
    assert row.username == "bob"
    assert row.outcome == Outcome.REFUSED
    assert ActionAttempt.objects.count() == 3

    request = RequestFactory().get(base)
    request.user = admin_user
    model_admin = site._registry[ActionAttempt]
    assert isinstance(model_admin, ActionAttemptAdmin)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_users_and_stations_with_attempts_cannot_be_deleted(trail):
    with pytest.raises(ProtectedError):
        trail["bob"].delete()
    with pytest.raises(ProtectedError):
        trail["lathe"].delete()
