"""Finding one's way, in Chromium on a tablet: each role goes from the wall to every page it
may open (and is shown nothing else), and back to the wall in one tap; a kiosk screen shows no
navigation; the 403 and 404 pages are ours, in English and French; and the French bar of the
station page fits one line at 1024 px for the user with the most entries."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.navigation import ENTRIES, STAFF
from screens.services import DEVICE_COOKIE
from tests.browser.conftest import STATIONS, TABLET, TV, Stack
from tests.security.test_access import BY_ROLE, LOGGED_IN, ROLES

pytestmark = pytest.mark.slow

PASSWORD = secrets.token_urlsafe(16)
#: Run in ``manage.py shell``: one user per role, a French viewer and a French superuser
#: (who has every entry); a kiosk screen's enrolment link, printed.
CREATE = """
import json, os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from accounts.models import Profile
from screens.services import create_screen, enrol
users = get_user_model()
password = os.environ["TEST_PASSWORD"]
for role in json.loads(os.environ["TEST_ROLES"]):
    users.objects.create_user(role.lower(), password=password).groups.add(
        Group.objects.get(name=role))
viewer = users.objects.create_user("lecteur", password=password)
viewer.groups.add(Group.objects.get(name="Viewer"))
Profile.objects.create(user=viewer, language="fr")
chef = users.objects.create_superuser("chef", password=password)
Profile.objects.create(user=chef, language="fr")
_screen, token = create_screen("Hall TV", {}, 20, None)
print("SECRET=" + enrol(token)[1])
"""

#: Every link and button text of the bar on one line, and the bar itself one row high.
BAR_FITS = """
() => {
  const bar = document.querySelector("header.bar");
  const list = bar.querySelector(".nav-list");
  const items = [...bar.querySelectorAll(".nav > .nav-list > li > a, #nav-account > summary")];
  const right = bar.getBoundingClientRect().right;
  const text = (el) => el.textContent.trim();
  // A text on two lines has a rectangle below its first one.
  const lines = (el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const rects = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      rects.push(...[...range.getClientRects()].filter((r) => r.width > 0));
    }
    const first = Math.min(...rects.map((r) => r.top));
    return 1 + rects.filter((r) => r.top > first + r.height / 2).length;
  };
  return {
    barHeight: bar.getBoundingClientRect().height,
    overflow: list.scrollWidth - list.clientWidth,
    barOverflow: bar.scrollWidth - bar.clientWidth,
    tops: [...new Set(items.map((el) => Math.round(el.getBoundingClientRect().top)))],
    wrapped: items.filter((el) => lines(el) > 1).map((el) => el.textContent.trim()),
    small: items.filter((el) => el.getBoundingClientRect().height < 44).map(text),
    clipped: items.filter((el) => el.getBoundingClientRect().right > right).map(text),
  };
}
"""


def may_open(role: str, url_name: str) -> bool:
    return url_name in LOGGED_IN or role in BY_ROLE.get(url_name, set())


def expected_entries(role: str) -> set[str]:
    return {e.url_name for e in ENTRIES if e.permission != STAFF and may_open(role, e.url_name)}


@pytest.fixture(scope="module")
def kiosk_secret(stack: Stack) -> str:
    env = {"TEST_PASSWORD": PASSWORD, "TEST_ROLES": json.dumps(list(ROLES))}
    out = stack.manage("shell", "-c", CREATE, env=env).stdout
    return next(line[7:] for line in out.splitlines() if line.startswith("SECRET="))


@contextlib.contextmanager
def signed_in(browser: Any, stack: Stack, username: str, viewport=TABLET) -> Iterator[Any]:
    ctx = browser.new_context(viewport=viewport, base_url=stack.web_url)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    try:
        page.goto("/login/?next=/wall/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/wall/")
        yield page
    finally:
        ctx.close()


def wait_for_tiles(page: Any) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#wall-grid > li.tile').length === n", arg=STATIONS
    )


@pytest.mark.parametrize("role", ROLES)
def test_from_the_wall_to_every_page_of_the_role_and_back_in_one_tap(
    browser, stack, kiosk_secret, role
):
    expected = expected_entries(role)
    with signed_in(browser, stack, role.lower()) as page:
        wait_for_tiles(page)
        bar = page.locator("header.wall-bar").bounding_box()
        menu = page.locator("#nav-menu > summary")
        assert menu.bounding_box()["height"] >= 44
        menu.click()  # one tap opens it, over the tiles: the bar does not grow
        shown = page.locator("#nav-menu [data-nav]")
        shown.first.wait_for()
        names = {shown.nth(i).get_attribute("data-nav") for i in range(shown.count())}
        assert names == expected, role
        assert page.locator("header.wall-bar").bounding_box()["height"] == bar["height"]
        for name in sorted(expected - {"wall"}):
            with page.expect_navigation():
                page.locator(f'#nav-menu [data-nav="{name}"]').click()
            assert "/wall/" not in page.url, (role, name)
            title = page.title()
            assert "Page not found" not in title, (role, name)
            assert "Not allowed" not in title, (role, name)
            current = page.locator('header.bar [aria-current="page"]')
            assert current.get_attribute("data-nav") == name, (role, name)
            # The bar there offers the same entries, and the wall in one tap.
            bar_names = page.locator("header.bar [data-nav]")
            assert {
                bar_names.nth(i).get_attribute("data-nav") for i in range(bar_names.count())
            } == expected, (role, name)
            page.locator('header.bar [data-nav="wall"]').click()
            page.wait_for_url("**/wall/")
            wait_for_tiles(page)
            page.locator("#nav-menu > summary").click()


def test_a_kiosk_screen_shows_no_navigation(browser, stack, kiosk_secret):
    ctx = browser.new_context(viewport=TV, base_url=stack.web_url)
    ctx.set_default_timeout(15_000)
    try:
        ctx.add_cookies([{"name": DEVICE_COOKIE, "value": kiosk_secret, "url": stack.web_url}])
        page = ctx.new_page()
        page.goto("/wall/")
        assert page.locator("h1").inner_text() == "Hall TV"  # the kiosk's own wall
        wait_for_tiles(page)
        assert page.locator("nav, #nav-menu, [data-nav], form[action='/logout/']").count() == 0
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("username", "language", "not_found", "forbidden", "wall"),
    [
        ("viewer", "en", "Page not found", "You may not open this page", "Wall"),
        ("lecteur", "fr", "Page introuvable", "Vous n'avez pas accès à cette page", "Mur"),
    ],
)
def test_error_pages_are_ours_in_the_readers_language(
    browser, stack, kiosk_secret, username, language, not_found, forbidden, wall
):
    with signed_in(browser, stack, username) as page:
        response = page.goto("/no-such-page/")
        assert response.status == 404
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("h1").inner_text() == not_found
        back = page.locator('header.bar [data-nav="wall"]')
        assert back.inner_text() == wall
        response = page.goto("/audit/")
        assert response.status == 403
        assert page.locator("h1").inner_text() == forbidden
        page.locator('header.bar [data-nav="wall"]').click()
        page.wait_for_url("**/wall/")


@pytest.mark.parametrize("viewport", [TABLET, TV], ids=["tablet", "tv"])
def test_the_french_station_page_bar_fits_one_line(browser, stack, kiosk_secret, viewport):
    with signed_in(browser, stack, "chef", viewport) as page:
        page.goto("/stations/")
        page.locator("#station-rows a").first.click()
        page.wait_for_url("**/stations/*/")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("header.bar [data-nav]").count() == len(ENTRIES)  # every entry
        measured = page.evaluate(BAR_FITS)
        assert measured["wrapped"] == [], measured
        assert measured["clipped"] == [], measured
        assert measured["small"] == [], measured
        assert len(measured["tops"]) == 1, measured
        assert measured["overflow"] <= 0, measured
        assert measured["barOverflow"] <= 0, measured
        assert measured["barHeight"] < 2 * 44, measured
        # The account menu opens with "Préférences" and "Se déconnecter", each on one line.
        page.locator("#nav-account > summary").click()
        logout = page.locator("#nav-account button[type=submit]")
        assert logout.inner_text() == "Se déconnecter"
        assert logout.bounding_box()["height"] < 50
        page.screenshot(path=str(stack.workdir / f"station-fr-{viewport['width']}.png"))


def test_no_page_asks_for_a_file_the_server_does_not_have(browser, stack, kiosk_secret):
    """A 404 in the background fills the logs and hides real ones: the login page, the wall
    and a station page load every file they ask for, and name their icon (else the browser
    asks for /favicon.ico, which no page serves)."""
    missing: list[str] = []
    icons: list[str | None] = []
    with signed_in(browser, stack, "administrator") as page:
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        for path in ("/login/", "/wall/", "/stations/", "station"):
            if path == "station":
                page.locator("#station-rows a").first.click()
                page.wait_for_url("**/stations/*/")
            else:
                page.goto(path)
            page.wait_for_load_state("networkidle")
            icons.append(page.locator("link[rel=icon]").get_attribute("href"))
        for href in set(icons):
            assert href, icons
            answer = page.request.get(href)
            assert answer.status == 200, href
            assert answer.headers["content-type"].startswith("image/svg+xml"), href
    assert missing == []
