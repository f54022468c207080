"""The profile on the user's admin page: workshops to choose, the API key never shown."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.admin import ProfileForm
from accounts.models import Profile
from stations.models import Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile():
    now = timezone.now()
    Station.objects.create(cwork_id=1, name="Lathe", workshop="Hall B", synced_at=now)
    Station.objects.create(cwork_id=2, name="Mill", workshop="Hall A", synced_at=now)
    user = get_user_model().objects.create_user("op", password="x" * 12)
    return Profile.objects.create(user=user, workshops=["Gone"], cwork_api_key="secret-key-42")


def test_workshops_are_chosen_among_the_stations_and_the_key_is_masked(profile):
    form = ProfileForm(instance=profile)
    workshops = form.fields["workshops"]
    assert isinstance(workshops, forms.ChoiceField)
    # Django keeps them normalised to a list; the stubs type the property as any choices input.
    choices = workshops.choices
    assert isinstance(choices, list)
    assert [value for value, _ in choices] == ["Gone", "Hall A", "Hall B"]
    html = form.as_p()
    assert "secret-key-42" not in html
    assert 'type="password"' in html


def test_a_blank_key_keeps_the_stored_one_and_it_can_be_removed(profile):
    form = ProfileForm({"workshops": ["Hall A"], "cwork_api_key": ""}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()
    profile.refresh_from_db()
    assert profile.workshops == ["Hall A"]
    assert profile.cwork_api_key == "secret-key-42"

    form = ProfileForm({"cwork_api_key": "new-key"}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()
    profile.refresh_from_db()
    assert profile.cwork_api_key == "new-key"

    form = ProfileForm({"clear_cwork_api_key": "on"}, instance=profile)
    assert form.is_valid(), form.errors
    form.save()
    profile.refresh_from_db()
    assert profile.cwork_api_key == ""


def test_the_user_page_shows_the_profile_inline(admin_client, profile):
    response = admin_client.get(f"/admin/auth/user/{profile.user.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "profile-0-stations" in body
    assert "secret-key-42" not in body
