"""Kiosk screens: staff-only management, one-time enrolment links, device cookies, commands."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.utils import timezone

from core import realtime
from core.realtime import screen_group
from screens import services
from screens.models import Screen
from screens.services import (
    DEVICE_COOKIE,
    ENROLMENT_VALIDITY,
    create_screen,
    enrol,
    enrolment_screen,
    identify,
    new_enrolment_link,
    reload,
    revoke,
    screen_for_device,
    screen_from_request,
    screen_from_scope,
    socket_closed,
    socket_opened,
    touch,
)
from stations.models import Station
from tests.lookups import present, search

pytestmark = pytest.mark.django_db

LINK = re.compile(r'value="(http://testserver/screens/enrol/([A-Za-z0-9_-]+)/)"')


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("foreman", password="x" * 12, is_staff=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def screen_token():
    return create_screen("Hall A", {"workshop": "Turning"}, 20, None)


@pytest.fixture
def listener():
    """Subscribe a fresh channel to a screen's group; ``receive()`` returns its next message."""
    layer = get_channel_layer()

    class Listener:
        def __init__(self, screen_id: int) -> None:
            self.channel = async_to_sync(layer.new_channel)()
            async_to_sync(layer.group_add)(screen_group(screen_id), self.channel)

        def receive(self, timeout: float = 2.0) -> dict:
            async def wait() -> dict:
                return await asyncio.wait_for(layer.receive(self.channel), timeout)

            return async_to_sync(wait)()

        def nothing(self) -> bool:
            try:
                self.receive(timeout=0.2)
            except TimeoutError:
                return True
            return False

    yield Listener
    async_to_sync(layer.flush)()


def rows(body: str, screen: Screen) -> str:
    """The HTML of one screen's rows in the list."""
    start = body.index(f'<tbody id="screen-{screen.pk}"')
    return body[start : body.index("</tbody>", start)]


def enrolled(name: str = "Hall A", **filters: str) -> tuple[Screen, str]:
    _, token = create_screen(name, filters, 20, None)
    return enrol(token)


# --- management is for staff -------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get("/screens/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/screens/"
    response = client.post("/screens/new/", {"name": "Hall A", "rotation_seconds": 20})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/screens/"
    assert not Screen.objects.exists()


def test_anonymous_htmx_requests_are_told_to_log_in(client, screen_token):
    """A message and a login link beside the row (dashboard.refusals), not a whole-page
    redirect that would lose the page."""
    screen, _ = screen_token
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/screens/"}
    response = client.post(f"/screens/{screen.pk}/revoke/", headers=headers)
    assert response.status_code == 401
    assert response["X-Refusal"] == "login"
    assert "/login/?next=%2Fscreens%2F" in response.content.decode()
    screen.refresh_from_db()
    assert screen.revoked_at is None


def test_users_who_are_not_staff_are_refused(client, screen_token):
    screen, _ = screen_token
    client.force_login(get_user_model().objects.create_user("operator", password="x" * 12))
    assert client.get("/screens/").status_code == 403
    assert client.post("/screens/new/", {"name": "B", "rotation_seconds": 20}).status_code == 403
    for action in ("identify", "reload", "link", "revoke", "delete"):
        assert client.post(f"/screens/{screen.pk}/{action}/").status_code == 403
    screen.refresh_from_db()
    assert screen.revoked_at is None
    assert Screen.objects.count() == 1


def test_actions_are_posts_only(staff, screen_token):
    screen, _ = screen_token
    for action in ("identify", "reload", "link", "revoke", "delete"):
        assert staff.get(f"/screens/{screen.pk}/{action}/").status_code == 405
    assert staff.get("/screens/new/").status_code == 405


def test_the_list_shows_each_screen_its_filters_and_whether_it_is_online(staff, settings):
    settings.TIME_ZONE = "Europe/Paris"
    online, _ = enrolled("Hall A", workshop="Turning")
    offline, _ = enrolled("Hall B", mdc_group="Lathes")
    socket_opened(online.pk, now=datetime(2026, 1, 5, 12, 30, tzinfo=UTC))
    body = staff.get("/screens/").content.decode()
    row_a, row_b = (rows(body, screen) for screen in (online, offline))
    assert "Workshop: Turning" in row_a
    assert ">online<" in row_a
    assert 'datetime="2026-01-05T13:30:00+01:00"' in row_a  # in the plant's time zone
    assert "MDC group: Lathes" in row_b
    assert ">offline<" in row_b
    assert "never" in row_b


def test_the_create_form_offers_the_stations_values(staff):
    now = timezone.now()
    Station.objects.create(
        cwork_id=1,
        name="L1",
        workshop="Turning",
        dnc_group="DNC-1",
        mdc_groups=["Lathes"],
        synced_at=now,
    )
    Station.objects.create(
        cwork_id=2, name="M1", workshop="Milling", mdc_groups=["Mills", "5 axis"], synced_at=now
    )
    Station.objects.create(
        cwork_id=3, name="Gone", workshop="Scrapped", present_in_cwork=False, synced_at=now
    )
    body = staff.get("/screens/").content.decode()
    for value in ("Turning", "Milling", "DNC-1", "Lathes", "Mills", "5 axis"):
        assert f'<option value="{value}">{value}</option>' in body
    assert "Scrapped" not in body
    assert body.count('<option value="" selected>all</option>') == 3


# --- creating a screen shows its link once ------------------------------------------------------


def test_creating_a_screen_shows_its_enrolment_link_once(staff):
    response = staff.post(
        "/screens/new/",
        {
            "name": " Hall A ",
            "workshop": "",
            "mdc_group": "",
            "dnc_group": "",
            "rotation_seconds": 30,
            "language": "fr",
        },
    )
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.content.decode()
    _, token = present(LINK.search(body)).groups()
    assert "It works once and expires in 7 days." in body
    screen = Screen.objects.get()
    assert (screen.name, screen.rotation_seconds, screen.language) == ("Hall A", 30, "fr")
    assert screen.created_by == staff.user
    assert screen.enrolment_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Screen.objects.values().get())  # only its hash is stored
    assert enrolment_screen(token) == screen
    # Shown once: the list never shows it again.
    assert token not in staff.get("/screens/").content.decode()
    assert LINK.search(staff.get("/screens/").content.decode()) is None


def test_create_with_htmx_swaps_the_page_body(staff):
    response = staff.post(
        "/screens/new/", {"name": "Hall A", "rotation_seconds": 20}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="screens-page"')
    assert LINK.search(body)


def test_a_bad_form_creates_nothing_and_says_why(staff, screen_token):
    response = staff.post("/screens/new/", {"name": "Hall A", "rotation_seconds": 20})
    assert response.status_code == 400
    assert "A screen with this name already exists." in response.content.decode()
    response = staff.post("/screens/new/", {"name": "Hall B", "rotation_seconds": 2})
    assert response.status_code == 400
    response = staff.post(
        "/screens/new/", {"name": "Hall C", "workshop": "Nowhere", "rotation_seconds": 20}
    )
    assert response.status_code == 400
    assert LINK.search(response.content.decode()) is None
    assert list(Screen.objects.values_list("name", flat=True)) == ["Hall A"]
    # htmx only swaps successes: its errors come back as a 200 with the form.
    response = staff.post(
        "/screens/new/", {"name": "Hall A", "rotation_seconds": 20}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "A screen with this name already exists." in response.content.decode()


def test_the_service_validates_too():
    from django.core.exceptions import ValidationError

    create_screen("Hall A", {}, 20, None)
    with pytest.raises(ValidationError):
        create_screen("Hall A", {}, 20, None)
    with pytest.raises(ValidationError):
        create_screen("Hall B", {}, 4, None)
    with pytest.raises(ValidationError):
        create_screen("Hall C", {}, 20, None, language="xx")


def test_filters_are_kept_trimmed():
    screen, _ = create_screen(
        "Hall A", {"workshop": "Turning & Co", "dnc_group": " DNC "}, 20, None
    )
    assert screen.filters == {"workshop": "Turning & Co", "mdc_group": "", "dnc_group": "DNC"}
    everything, _ = create_screen("Hall B", None, 20, None)
    assert everything.filters == {"workshop": "", "mdc_group": "", "dnc_group": ""}


# --- enrolling ----------------------------------------------------------------------------------


def test_opening_the_link_asks_first_and_uses_nothing_up(client, screen_token):
    screen, token = screen_token
    for _ in range(3):  # a link preview, a double click, the TV itself
        response = client.get(f"/screens/enrol/{token}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "Enrol this screen as Hall A?" in body
        assert 'method="post"' in body
        assert "csrfmiddlewaretoken" in body
    assert response["Referrer-Policy"] == "same-origin"
    assert DEVICE_COOKIE not in response.cookies
    screen.refresh_from_db()
    assert screen.enrolled_at is None
    assert enrolment_screen(token) == screen


def test_confirming_sets_the_device_cookie_and_goes_to_the_wall(client, screen_token, settings):
    settings.SESSION_COOKIE_SECURE = False
    screen, token = screen_token
    response = client.post(f"/screens/enrol/{token}/")
    assert response.status_code == 303
    assert response["Location"] == "/wall/"
    assert token not in response["Location"]
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) >= 4 * 365 * 24 * 3600
    assert screen_for_device(cookie.value) == screen
    screen.refresh_from_db()
    assert screen.enrolled_at is not None
    assert screen.enrolment_token_hash == ""
    assert screen.device_secret_hash == hashlib.sha256(cookie.value.encode()).hexdigest()
    # The browser now carries the cookie: the request is recognised as the screen.
    assert client.cookies[DEVICE_COOKIE].value == cookie.value


def test_the_cookie_is_secure_when_the_session_cookie_is(client, screen_token, settings):
    settings.SESSION_COOKIE_SECURE = True
    _, token = screen_token
    response = client.post(f"/screens/enrol/{token}/", secure=True)
    assert response.status_code == 303
    assert response.cookies[DEVICE_COOKIE]["secure"] is True


def test_enrolment_needs_the_csrf_token(screen_token):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    screen, token = screen_token
    assert browser.post(f"/screens/enrol/{token}/").status_code == 403
    screen.refresh_from_db()
    assert screen.enrolled_at is None
    page = browser.get(f"/screens/enrol/{token}/").content.decode()
    csrf = search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(f"/screens/enrol/{token}/", {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 303
    assert DEVICE_COOKIE in response.cookies


def test_a_link_works_once(client, screen_token):
    screen, token = screen_token
    first = client.post(f"/screens/enrol/{token}/")
    assert first.status_code == 303
    again = client.post(f"/screens/enrol/{token}/")
    assert again.status_code == 400
    assert DEVICE_COOKIE not in again.cookies
    assert "already used" in again.content.decode()
    assert client.get(f"/screens/enrol/{token}/").status_code == 400
    with pytest.raises(services.InvalidToken):
        enrol(token)
    # The device enrolled first still works.
    assert screen_for_device(first.cookies[DEVICE_COOKIE].value) == screen


def test_an_expired_link_is_refused(client, screen_token):
    screen, token = screen_token
    Screen.objects.filter(pk=screen.pk).update(
        enrolment_expires_at=timezone.now() - timedelta(seconds=1)
    )
    for method in (client.get, client.post):
        response = method(f"/screens/enrol/{token}/")
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        assert DEVICE_COOKIE not in response.cookies
    with pytest.raises(services.ExpiredToken):
        enrol(token)
    later = timezone.now() + ENROLMENT_VALIDITY + timedelta(minutes=1)
    _, fresh = create_screen("Hall B", {}, 20, None)
    with pytest.raises(services.ExpiredToken):
        enrol(fresh, now=later)


def test_unknown_and_absurd_tokens_are_a_400_never_a_500(client):
    for token in ("nope", "x" * 5000, "a-b_c"):
        response = client.get(f"/screens/enrol/{token}/")
        assert response.status_code == 400
        assert client.post(f"/screens/enrol/{token}/").status_code == 400


def test_a_revoked_screen_cannot_be_enrolled(client, screen_token):
    screen, token = screen_token
    revoke(screen)
    assert client.post(f"/screens/enrol/{token}/").status_code == 400  # its token is cleared
    with pytest.raises(services.ScreenRevoked):
        new_enrolment_link(screen)


def test_a_new_link_replaces_the_unused_one_and_keeps_the_device(screen_token):
    screen, first_token = screen_token
    screen, secret = enrol(first_token)
    second = new_enrolment_link(screen)
    third = new_enrolment_link(screen)
    with pytest.raises(services.InvalidToken):
        enrolment_screen(second)
    assert screen_for_device(secret) == screen  # until the new link is used
    screen, new_secret = enrol(third)
    assert screen_for_device(new_secret) == screen
    assert screen_for_device(secret) is None


def test_using_a_new_link_cuts_the_replaced_device(screen_token, listener):
    screen, token = screen_token
    enrol(token)
    listening = listener(screen.pk)
    enrol(new_enrolment_link(screen))
    assert listening.receive() == {"type": "screen.revoked"}


def test_issuing_a_link_from_the_list_shows_it_once(staff, screen_token):
    screen, old = screen_token
    response = staff.post(f"/screens/{screen.pk}/link/")
    assert response.status_code == 200
    _, token = present(LINK.search(response.content.decode())).groups()
    assert token != old
    assert enrolment_screen(token) == screen
    assert LINK.search(staff.get("/screens/").content.decode()) is None


# --- recognising a screen -----------------------------------------------------------------------


def test_screen_for_device_until_revoked(listener):
    screen, secret = enrolled()
    assert screen_for_device(secret) == screen
    assert screen_for_device(secret + "x") is None
    assert screen_for_device("") is None
    assert screen_for_device(None) is None
    listening = listener(screen.pk)
    revoke(screen)
    assert listening.receive() == {"type": "screen.revoked"}
    assert screen_for_device(secret) is None
    screen.refresh_from_db()
    assert screen.revoked_at is not None
    assert screen.device_secret_hash == ""
    assert screen.enrolment_token_hash == ""


def test_a_revoked_screen_is_never_recognised_even_with_its_secret():
    screen, secret = enrolled()
    Screen.objects.filter(pk=screen.pk).update(revoked_at=timezone.now())
    assert screen_for_device(secret) is None


def test_screen_from_scope_reads_the_cookie():
    screen, secret = enrolled()
    assert screen_from_scope({"type": "websocket", "cookies": {DEVICE_COOKIE: secret}}) == screen
    assert screen_from_scope({"type": "websocket", "cookies": {"sessionid": secret}}) is None
    assert screen_from_scope({"type": "websocket", "cookies": {}}) is None
    assert screen_from_scope({"type": "websocket"}) is None


def test_screen_from_request_reads_the_cookie(rf):
    screen, secret = enrolled()
    request = rf.get("/wall/")
    assert screen_from_request(request) is None
    request.COOKIES[DEVICE_COOKIE] = secret
    assert screen_from_request(request) == screen
    revoke(screen)
    assert screen_from_request(request) is None


# --- commands -----------------------------------------------------------------------------------


def test_identify_and_reload_reach_the_screens_group(listener):
    screen, _ = enrolled()
    other, _ = enrolled("Hall B")
    listening = listener(screen.pk)
    bystander = listener(other.pk)
    assert identify(screen) is True
    assert listening.receive() == {"type": "screen.identify", "name": "Hall A"}
    assert reload(screen) is True
    assert listening.receive() == {"type": "screen.reload"}
    assert bystander.nothing()


def test_the_list_buttons_send_the_commands(staff, listener):
    screen, secret = enrolled()
    listening = listener(screen.pk)
    response = staff.post(f"/screens/{screen.pk}/identify/")
    assert response.status_code == 303
    assert response["Location"] == "/screens/"
    assert listening.receive() == {"type": "screen.identify", "name": "Hall A"}
    assert "Hall A shows its name now" in staff.get("/screens/").content.decode()

    response = staff.post(f"/screens/{screen.pk}/reload/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tbody id="screen-{screen.pk}"')
    assert "Hall A reloads now" in body
    assert listening.receive() == {"type": "screen.reload"}

    response = staff.post(f"/screens/{screen.pk}/revoke/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert ">revoked<" in body
    assert listening.receive() == {"type": "screen.revoked"}
    assert screen_for_device(secret) is None
    # A revoked screen takes no more commands, and can then be deleted.
    assert staff.post(f"/screens/{screen.pk}/identify/").status_code == 404
    assert listening.nothing()
    response = staff.post(f"/screens/{screen.pk}/delete/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content == b""
    assert not Screen.objects.exists()


def test_a_screen_in_use_is_not_deleted(staff, screen_token):
    screen, _ = screen_token
    response = staff.post(f"/screens/{screen.pk}/delete/")
    assert response.status_code == 303
    assert Screen.objects.filter(pk=screen.pk).exists()
    assert "Revoke a screen before deleting it." in staff.get("/screens/").content.decode()


def test_a_failed_send_is_reported_not_raised(staff, monkeypatch):
    screen, _ = enrolled()

    class Broken:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(realtime, "get_channel_layer", lambda: Broken())
    assert identify(screen) is False
    revoke(screen)  # saved all the same
    assert Screen.objects.get().revoked_at is not None
    other, _ = enrolled("Hall B")
    response = staff.post(f"/screens/{other.pk}/reload/", headers={"HX-Request": "true"})
    assert "could not be reached" in response.content.decode()


# --- connection counts --------------------------------------------------------------------------


def test_socket_counts_follow_opens_and_closes_and_never_go_negative():
    screen, _ = enrolled()
    at = timezone.now() - timedelta(minutes=5)
    socket_opened(screen.pk, now=at)
    socket_opened(screen.pk)
    screen.refresh_from_db()
    assert screen.connected_sockets == 2
    assert screen.is_online
    socket_closed(screen.pk)
    socket_closed(screen.pk)
    socket_closed(screen.pk)  # one too many (a socket closed twice, a restart)
    screen.refresh_from_db()
    assert screen.connected_sockets == 0
    assert not screen.is_online
    assert screen.last_seen_at > at
    socket_opened(screen.pk)
    screen.refresh_from_db()
    assert screen.connected_sockets == 1


def test_touch_updates_last_seen():
    screen, _ = enrolled()
    assert screen.last_seen_at is None
    when = timezone.now() - timedelta(hours=1)
    touch(screen.pk, now=when)
    screen.refresh_from_db()
    assert screen.last_seen_at == when
    socket_closed(screen.pk + 1000)  # an unknown screen (deleted meanwhile) is no error


def test_the_admin_never_shows_the_hashes(admin_client):
    screen, _ = enrolled()
    body = admin_client.get(f"/admin/screens/screen/{screen.pk}/change/").content.decode()
    assert "Hall A" in body
    assert screen.device_secret_hash not in body
    assert "hash" not in body
    assert admin_client.get("/admin/screens/screen/add/").status_code == 403


# --- enrolling from a real browser's requests (CSRF checked) ---------------------------------


def _confirmation(token: str):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    page = browser.get(f"/screens/enrol/{token}/")
    form_token = search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return browser, page, form_token.group(1)


def test_the_enrolment_pages_keep_the_forms_origin_and_the_token_on_this_site(screen_token):
    """``no-referrer`` made Chromium post the confirmation with ``Origin: null``: refused."""
    _, token = screen_token
    browser, page, form_token = _confirmation(token)
    assert page["Referrer-Policy"] == "same-origin"
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    response = browser.post(
        f"/screens/enrol/{token}/",
        {"csrfmiddlewaretoken": form_token},
        headers={"Origin": "http://testserver"},
    )
    assert response.status_code == 303
    assert response["Location"] == "/wall/"
    assert response["Referrer-Policy"] == "same-origin"
    assert DEVICE_COOKIE in response.cookies


def test_a_refused_confirmation_says_to_open_the_link_again_in_the_screens_language(
    screen_token,
):
    screen, token = screen_token
    screen.language = "fr"
    screen.save()
    browser, _, form_token = _confirmation(token)
    browser.cookies.clear()  # the page was left open for too long, or cookies were dropped
    response = browser.post(f"/screens/enrol/{token}/", {"csrfmiddlewaretoken": form_token})
    assert response.status_code == 403
    body = response.content.decode()
    assert "CSRF verification failed" not in body
    assert "Ouvrir à nouveau le lien d'enregistrement" in body
    assert f'href="/screens/enrol/{token}/"' in body
    assert response["Referrer-Policy"] == "same-origin"
    assert enrolment_screen(token) == screen  # the link is not used up


def test_any_other_refused_form_says_what_to_do():
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        "/login/", {"username": "x"}, headers={"Referer": "http://testserver/login/"}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "CSRF verification failed" not in body
    assert "This form has expired" in body
    assert 'href="http://testserver/login/"' in body
    elsewhere = browser.post("/login/", {}, headers={"Referer": "https://elsewhere.example/"})
    assert "elsewhere.example" not in elsewhere.content.decode()


def test_a_revoked_screens_wall_is_refused_in_plain_words(client, screen_token):
    screen, token = screen_token
    _, secret = enrol(token)
    client.cookies[DEVICE_COOKIE] = secret
    assert client.get("/wall/").status_code == 200
    revoke(screen)
    response = client.get("/wall/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "This screen is no longer enrolled" in body
    assert "new enrolment link" in body
