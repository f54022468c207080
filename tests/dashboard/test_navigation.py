"""The one navigation, by role, against the access matrix of tests/security; no link on any
page to a page its reader may not open; the product's own 403, 404 and 500 pages."""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from urllib.parse import urljoin, urlparse

import pytest
from django.db import connection
from django.db.utils import OperationalError
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from accounts.models import Profile
from dashboard import station_views
from dashboard.navigation import ENTRIES, STAFF
from screens.services import DEVICE_COOKIE, create_screen, enrol
from stations.jobs import run_job
from stations.models import Station
from tests.security.test_access import BY_ROLE, LOGGED_IN, ROLES, user_in

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav[^>]*aria-label="[^"]*"[^>]*>(.*?)</nav>', re.S)
LINK = re.compile(r'<a\b[^>]*\bhref="([^"#][^"]*)"', re.S)
NAV_ENTRY = re.compile(r'data-nav="([^"]+)"')


@pytest.fixture
def synced(cwork, clock) -> None:
    for kind in ("catalogue", "live"):
        assert run_job(kind, client=cwork, now=clock(), publish=lambda event: None).ok


def may_open(role: str, url_name: str) -> bool:
    """What tests/security/test_access.py says of ``role`` and a page."""
    if url_name in LOGGED_IN:
        return True
    if url_name in BY_ROLE:
        return role in BY_ROLE[url_name]
    return False


def shown_entries(page: str) -> set[str]:
    navs = NAV.findall(page)
    return set(NAV_ENTRY.findall("".join(navs)))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_shown_exactly_the_pages_it_may_open(client, synced, role):
    client.force_login(user_in(role))
    expected = {e.url_name for e in ENTRIES if e.permission != STAFF and may_open(role, e.url_name)}
    for url in ("/wall/", "/stations/", "/preferences/"):
        assert shown_entries(client.get(url).content.decode()) == expected, (role, url)
    assert "wall" in expected
    for name in expected:
        page = client.get(reverse(name))
        assert page.status_code == 200, (role, name)
        # Back to the wall in one tap from every page.
        assert 'data-nav="wall"' in page.content.decode(), (role, name)
        assert 'aria-current="page"' in page.content.decode(), (role, name)


def test_staff_get_the_screens_and_the_admin_and_a_kiosk_gets_nothing(client, synced):
    client.force_login(user_in(None, "foreman", is_staff=True))
    entries = shown_entries(client.get("/stations/").content.decode())
    assert {"screens:list", "admin:index", "wall"} <= entries
    assert "kpis:review" not in entries

    kiosk = Client()
    _screen, token = create_screen("TV", {}, 20, None)
    _, secret = enrol(token)
    kiosk.cookies[DEVICE_COOKIE] = secret
    wall = kiosk.get("/wall/").content.decode()
    assert 'id="tile-' in wall
    assert "<nav" not in wall
    assert "data-nav=" not in wall
    assert 'action="/logout/"' not in wall


def _links(page: str, base: str) -> set[str]:
    found = set()
    for href in LINK.findall(page):
        url = urlparse(urljoin(base, unescape(href)))
        if url.netloc and url.netloc != "testserver":
            continue
        found.add(url.path + (f"?{url.query}" if url.query else ""))
    return found


@pytest.mark.parametrize("role", ROLES)
def test_no_page_links_to_a_page_its_reader_may_not_open(client, synced, role):
    """From the wall, every link of every page reached, followed: none is refused."""
    client.force_login(user_in(role))
    seen: set[str] = set()
    queue = deque(["/wall/"])
    refused: list[tuple[str, int | str]] = []
    while queue and len(seen) < 120:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        try:
            match = resolve(urlparse(url).path)
        except Resolver404:
            refused.append((url, 404))
            continue
        if match.url_name in ("logout",) or match.view_name.startswith("kpis:export"):
            continue
        response = client.get(url)
        if response.status_code in (302, 303) and "/login/" in response["Location"]:
            refused.append((url, "login"))
            continue
        if response.status_code in (403, 404):
            refused.append((url, response.status_code))
            continue
        assert response.status_code in (200, 302, 303), (url, response.status_code)
        if response.get("Content-Type", "").startswith("text/html"):
            queue.extend(_links(response.content.decode(), url) - seen)
    assert not refused, f"{role} is shown links to pages refused to them: {refused}"


def test_a_viewers_station_page_has_no_review_link(client, synced):
    client.force_login(user_in("Viewer"))
    station = Station.objects.filter(present_in_cwork=True).first()
    assert station is not None
    page = client.get(f"/stations/{station.pk}/").content.decode()
    assert "/kpis/review/" not in page


# --- error pages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "not_found", "forbidden", "wall"),
    [
        ("en", "Page not found", "You may not open this page", "Wall"),
        ("fr", "Page introuvable", "Vous n'avez pas accès à cette page", "Mur"),
    ],
)
def test_403_and_404_are_our_pages_in_the_readers_language(
    client, synced, language, not_found, forbidden, wall
):
    viewer = user_in("Viewer")
    Profile.objects.create(user=viewer, language=language)
    client.force_login(viewer)
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert f'<html lang="{language}">' in missing.content.decode()
    assert unescape(not_found) in unescape(missing.content.decode())
    assert 'data-nav="wall"' in missing.content.decode()
    assert f">{wall}</a>" in missing.content.decode()
    refused = client.get("/audit/")
    assert refused.status_code == 403
    page = unescape(refused.content.decode())
    assert forbidden in page
    assert 'data-nav="wall"' in page
    assert "403 Forbidden" not in page
    # Anonymous readers get the page too, in their browser's language.
    stranger = Client().get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language)
    assert unescape(not_found) in unescape(stranger.content.decode())
    assert "data-nav=" not in stranger.content.decode()


@pytest.mark.parametrize(
    ("language", "title"), [("en", "Something went wrong"), ("fr", "Une erreur s'est produite")]
)
def test_500_is_our_page_even_with_the_database_down(monkeypatch, language, title):
    """Every query fails (the database is down): the page still comes, in the browser's
    language, with its way back to the wall."""

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", down)
    monkeypatch.setattr(connection, "cursor", down)
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32  # a signed-in browser: its session is stored
    response = client.get("/stations/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 500
    page = unescape(response.content.decode())
    assert f'<html lang="{language}">' in page
    assert title in page
    assert 'href="/"' in page
    assert "Server Error (500)" not in page


def test_500_in_a_view_shows_the_users_navigation(client, synced, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(station_views, "station_overview", broken)
    client.raise_request_exception = False
    client.force_login(user_in("Manager"))
    response = client.get("/stations/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert 'data-nav="kpis:review"' in page
    assert 'data-nav="wall"' in page
