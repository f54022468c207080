"""htmx requests refused or needing a login get a message the page can show (dashboard.refusals)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from stations.models import Station

pytestmark = pytest.mark.django_db

PAGE = "http://testserver/stations/{pk}/"


@pytest.fixture
def station() -> Station:
    return Station.objects.create(cwork_id=1, name="Lathe 1", synced_at=timezone.now())


def htmx(pk: int) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Current-URL": PAGE.format(pk=pk)}


def test_an_expired_session_gets_a_login_link_back_to_the_page(client, station):
    response = client.post(
        f"/stations/{station.pk}/actions/force_auto/", {"comment": "x"}, headers=htmx(station.pk)
    )
    assert response.status_code == 401
    assert response["X-Refusal"] == "login"
    body = response.content.decode()
    assert f"/login/?next=%2Fstations%2F{station.pk}%2F" in body
    assert "this was not done" in body


def test_a_login_redirect_for_a_polling_fragment_becomes_the_same_message(client, station):
    response = client.get("/stations/", headers=htmx(station.pk))
    assert response.status_code == 401
    assert response["X-Refusal"] == "login"
    assert "could not be updated" in response.content.decode()


def test_a_lowered_role_gets_a_plain_refusal(client, station):
    user = get_user_model().objects.create_user("viewer", password="pw")
    client.force_login(user)
    response = client.post(
        f"/stations/{station.pk}/actions/force_auto/", {}, headers=htmx(station.pk)
    )
    assert response.status_code == 403
    assert response["X-Refusal"] == "forbidden"
    assert "no longer allowed" in response.content.decode()


def test_the_message_is_in_french_for_a_french_reader(client, station):
    headers = {**htmx(station.pk), "Accept-Language": "fr"}
    response = client.post(f"/stations/{station.pk}/actions/force_auto/", {}, headers=headers)
    assert "Votre session a pris fin" in response.content.decode()


def test_next_from_another_origin_is_not_followed(client, station):
    headers = {"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"}
    response = client.post(f"/stations/{station.pk}/actions/force_auto/", {}, headers=headers)
    assert "evil" not in response.content.decode()


def test_plain_requests_are_left_alone(client, station):
    response = client.get("/stations/")
    assert response.status_code == 302
