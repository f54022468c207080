"""A user's profile is read one way (``accounts.profiles.profile_of``): a user without a
profile row (``createsuperuser`` makes none) reads as a blank profile on every path that reads
one (station limit, visible stations, own CWork key, language, report and alert recipients,
preferences page), and a user with a profile is read the same on all of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.languages import user_language
from accounts.models import Profile
from accounts.permissions import cwork_key_for, visible_stations
from accounts.profiles import profile_of
from alerts.models import AlertRule, Condition, EscalationLevel, ReportSubscription
from alerts.outbox import by_language
from alerts.reports import recipients
from dashboard.access import station_limit
from stations.models import Station

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PLANT = "en"


@pytest.fixture(autouse=True)
def _plant_in_english(settings):
    settings.LANGUAGE_CODE = PLANT


@pytest.fixture
def stations() -> dict[str, Station]:
    return {
        workshop: Station.objects.create(
            cwork_id=index, name=f"Lathe {index}", workshop=workshop, synced_at=NOW
        )
        for index, workshop in enumerate(("North", "South"), start=1)
    }


def made_by_createsuperuser():
    """As ``manage.py createsuperuser`` leaves it: no profile row."""
    user = get_user_model().objects.create_superuser("root", "root@plant.test", "pw")
    assert not Profile.objects.filter(user=user).exists()
    return user


def manager(name: str = "ann"):
    user = get_user_model().objects.create_user(name, f"{name}@plant.test", "pw")
    user.groups.add(Group.objects.get(name="Administrator"))
    return get_user_model().objects.get(pk=user.pk)


def read_every_way(user, workshop: str) -> dict[str, object]:
    """What each former reader of the profile makes of ``user``."""
    ReportSubscription.objects.get_or_create(user=user, workshop=workshop)
    level, _ = EscalationLevel.objects.get_or_create(
        rule=AlertRule.objects.get_or_create(name="Any", condition=Condition.STATE, minutes=5)[0],
        level=1,
    )
    level.users.add(user)
    level = EscalationLevel.objects.prefetch_related("users__profile").get(pk=level.pk)
    fresh = get_user_model().objects.get(pk=user.pk)
    return {
        "station limit": station_limit(fresh),
        "visible": sorted(visible_stations(fresh).values_list("workshop", flat=True)),
        "own key": cwork_key_for(fresh),
        "language": user_language(fresh),
        "report language": recipients(workshop).languages.get(user.email),
        "alert language": [
            language for language, (to, _) in by_language(level).items() if user.email in to
        ],
    }


def test_a_user_without_a_profile_row_reads_as_a_blank_profile_everywhere(stations):
    user = made_by_createsuperuser()
    blank = profile_of(user)
    assert blank.pk is None
    assert (blank.workshops, blank.language, blank.cwork_api_key, blank.limited) == (
        [],
        "",
        "",
        False,
    )
    assert read_every_way(user, "North") == {
        "station limit": None,
        "visible": ["North", "South"],
        "own key": None,
        "language": PLANT,
        "report language": PLANT,
        "alert language": [PLANT],
    }
    assert not Profile.objects.filter(user=user).exists()  # reading never writes


def test_a_plain_user_without_a_profile_row_is_read_the_same(stations):
    user = manager()
    assert read_every_way(user, "South")["visible"] == ["North", "South"]
    assert read_every_way(user, "South")["language"] == PLANT
    assert station_limit(user) is None


def test_a_profile_is_read_the_same_on_every_path(stations):
    user = manager()
    profile = Profile.objects.create(
        user=user, workshops=["North"], language="fr", cwork_api_key="ann-key"
    )
    assert read_every_way(user, "North") == {
        "station limit": frozenset({stations["North"].pk}),
        "visible": ["North"],
        "own key": "ann-key",
        "language": "fr",
        "report language": "fr",
        "alert language": ["fr"],
    }
    profile.stations.add(stations["South"])
    profile.workshops = []
    profile.save()
    assert read_every_way(user, "South")["visible"] == ["South"]


def test_a_superuser_with_a_limited_profile_sees_every_station_on_every_path(stations):
    user = made_by_createsuperuser()
    Profile.objects.create(user=user, workshops=["North"], language="fr")
    seen = read_every_way(user, "South")
    assert seen["station limit"] is None
    assert seen["visible"] == ["North", "South"]
    assert seen["language"] == seen["report language"] == "fr"


def test_the_preferences_page_shows_a_blank_profile_and_saves_it_only_when_saved():
    user = made_by_createsuperuser()
    client = Client()
    client.force_login(user)
    page = client.get(reverse("preferences"))
    assert page.status_code == 200
    assert not Profile.objects.filter(user=user).exists()  # a visit writes nothing

    saved = client.post(reverse("preferences"), {"language": "fr"})
    assert saved.status_code == 302
    assert Profile.objects.get(user=user).language == "fr"
    assert user_language(get_user_model().objects.get(pk=user.pk)) == "fr"
    assert client.get(reverse("preferences")).status_code == 200
