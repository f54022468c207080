"""Each reader in their own language: a user's choice, a kiosk screen's, a stranger's browser;
the plant's language for everyone who chose none. Walls get their tiles in theirs, live."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.signals import template_rendered
from django.utils import translation

from accounts.models import Profile
from core.formatting import local_date, local_moment, month_label
from dashboard.languages import languages_in_use
from dashboard.wall import publish_cycle
from screens import services as screens
from stations.jobs import run_job
from tests.dashboard.test_wall import socket
from tests.stations.helpers import other_state, writable_station

pytestmark = pytest.mark.django_db(transaction=True)

FRENCH_LOGIN = "Se connecter"
ENGLISH_LOGIN = "Log in"


def user(name: str, language: str = "") -> Client:
    account = get_user_model().objects.create_user(name, password="x" * 12)
    if language:
        Profile.objects.create(user=account, language=language)
    client = Client()
    client.force_login(account)
    return client


def test_the_login_page_follows_the_browser_and_says_so_to_caches():
    french = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9, en;q=0.5")
    assert FRENCH_LOGIN in french.content.decode()
    assert french["Content-Language"] == "fr"
    assert "Accept-Language" in french["Vary"]

    unknown = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="de-DE, de;q=0.9")
    assert ENGLISH_LOGIN in unknown.content.decode()  # the plant's language


def test_a_user_reads_their_choice_else_the_plants_whatever_the_browser(settings):
    settings.LANGUAGE_CODE = "fr"
    chose_english = user("ann", "en").get("/preferences/", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="en">' in chose_english.content.decode()
    chose_none = user("bob").get("/preferences/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="fr">' in chose_none.content.decode()


def test_saving_a_language_switches_the_page_at_once():
    client = user("chloe")
    response = client.post("/preferences/", {"language": "fr"}, follow=True)
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Vos préférences sont enregistrées." in page
    assert Profile.objects.get(user__username="chloe").language == "fr"

    back = client.post("/preferences/", {"language": ""}, follow=True)
    assert '<html lang="en">' in back.content.decode()
    assert Profile.objects.get(user__username="chloe").language == ""


def test_the_saved_message_is_in_the_language_just_chosen():
    # A user who had chosen English: the page read their profile before the save.
    client = user("emma", "en")
    page = client.post("/preferences/", {"language": "fr"}, follow=True).content.decode()
    assert '<html lang="fr">' in page
    assert "Vos préférences sont enregistrées." in page
    assert "Your preferences are saved." not in page
    back = client.post("/preferences/", {"language": "en"}, follow=True).content.decode()
    assert "Your preferences are saved." in back


def test_an_unknown_language_is_refused_and_nothing_is_saved():
    client = user("dan", "fr")
    response = client.post("/preferences/", {"language": "xx"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert Profile.objects.get(user__username="dan").language == "fr"


def test_a_kiosk_screen_shows_its_wall_in_its_language(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    _screen, token = screens.create_screen("Hall", {}, 20, language="fr")
    kiosk = Client()
    kiosk.post(f"/screens/enrol/{token}/")
    page = kiosk.get("/wall/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="fr">' in page
    assert "Aucune donnée de CWork pour l'instant." in page


def test_languages_in_use_follow_the_screens_and_the_users():
    assert languages_in_use() == ("en",)
    screen, _token = screens.create_screen("Hall", {}, 20, language="fr")
    assert languages_in_use() == ("en", "fr")
    screen.delete()
    assert languages_in_use() == ("en",)
    user("eve", "fr")
    assert languages_in_use() == ("en", "fr")


def test_a_poll_renders_each_changed_tile_once_per_language_in_use(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    handle = writable_station(sim)

    def tiles_rendered_by_a_change() -> int:
        sim.world.change_state(handle, other_state(sim, handle), "")
        names: list[str] = []

        def record(sender, template, context, **kwargs):
            names.append(template.name)

        template_rendered.connect(record)
        try:
            run_job("live", client=cwork, now=clock(), publish=publish_cycle)
        finally:
            template_rendered.disconnect(record)
        return names.count("wall/_tile.html")

    assert tiles_rendered_by_a_change() == 1
    user("fred", "fr")
    assert tiles_rendered_by_a_change() == 2


def test_french_and_english_walls_get_the_same_change_each_in_its_language(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    english, french = user("gil"), user("hugo", "fr")
    handle = writable_station(sim)
    state = other_state(sim, handle)

    def cookie(client: Client) -> bytes:
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        walls = [socket("/ws/wall/", cookie(english)), socket("/ws/wall/", cookie(french))]
        snapshots = []
        for ws in walls:
            assert (await ws.connect())[0]
            snapshots.append(await ws.receive_from(timeout=5))
        sim.world.change_state(handle, state, "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frames = [await ws.receive_from(timeout=5) for ws in walls]
        for ws in walls:
            await ws.disconnect()
        return snapshots, frames

    (en_snapshot, fr_snapshot), (en_frame, fr_frame) = async_to_sync(scenario)()
    assert "updated " in en_snapshot
    assert "mis à jour " not in en_snapshot
    assert "mis à jour " in fr_snapshot
    assert "updated " not in fr_snapshot
    assert "updated " in en_frame
    assert "mis à jour " in fr_frame
    assert en_frame.count('<li id="tile-') == fr_frame.count('<li id="tile-') == 1


def test_dates_in_text_read_in_the_plants_zone_and_the_readers_language(settings):
    settings.TIME_ZONE = "Europe/Paris"
    moment = datetime(2026, 11, 24, 8, 5, 9, tzinfo=UTC)
    with translation.override("en"):
        assert local_moment(moment) == "24/11/2026 09:05"  # day first, 24-hour clock
        assert local_moment(moment, seconds=True) == "24/11/2026 09:05:09"
        assert month_label(date(2026, 11, 1)) == "November 2026"
    with translation.override("fr"):
        assert local_date(date(2026, 11, 24)) == "24/11/2026"
        assert month_label(date(2026, 11, 1)) == "novembre 2026"
    assert local_moment(None) == ""


def test_the_enrolment_page_speaks_the_screens_language():
    _screen, token = screens.create_screen("Hall", {}, 20, language="fr")
    page = Client().get(f"/screens/enrol/{token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="fr">' in page.content.decode()
    assert page["Content-Language"] == "fr"
