"""A kiosk screen's whole life in Chromium: created on the screens page, enrolled from its link
in a browser nobody is logged in to, showing tiles that are not links, then revoked: its open
wall is cut off and a reload is refused in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import SOCKET_LOG_SCRIPT, STATIONS, TV, Stack, Wall, logged_in

pytestmark = pytest.mark.slow


def test_a_kiosk_is_enrolled_shows_its_tiles_and_is_cut_off_when_revoked(
    browser: Any, stack: Stack
):
    with logged_in(browser, stack) as admin:
        screens = admin.new_page()
        screens.goto("/screens/")
        screens.fill("#id_name", "Hall TV")
        screens.get_by_role("button", name="Create and get its enrolment link").click()
        link = screens.locator("#enrolment-url")
        link.wait_for()
        url = link.input_value()
        assert "/screens/enrol/" in url

        kiosk_context = browser.new_context(viewport=TV)  # a fresh browser: no login
        kiosk_context.set_default_timeout(15_000)
        kiosk_context.add_init_script(SOCKET_LOG_SCRIPT)
        try:
            tv = kiosk_context.new_page()
            kiosk = Wall(tv)
            kiosk.watch(tv)
            confirmation = tv.goto(url)
            assert confirmation is not None
            # The token stays out of other sites' referrers, and the form keeps its Origin.
            assert confirmation.headers["referrer-policy"] == "same-origin"
            tv.get_by_role("button", name="Enrol this screen").click()
            tv.wait_for_url("**/wall/")
            assert "CSRF verification failed" not in tv.content()
            tv.wait_for_function(
                "n => document.querySelectorAll('#wall-grid > li.tile').length === n",
                arg=STATIONS,
            )
            assert tv.title().startswith("Hall TV")
            # A kiosk has no station pages: nothing on its tiles is a link.
            assert tv.locator("#wall-grid a").count() == 0
            assert tv.locator("#wall-grid .tile-name").count() == STATIONS
            # Tiles pushed over the socket after the snapshot are not links either.
            tv.wait_for_function("() => (window.__sockets || []).some(s => s.type === 'open')")
            seen = tv.evaluate("() => document.getElementById('wall-heartbeat').dataset.liveAsOf")
            tv.wait_for_function(
                "seen => document.getElementById('wall-heartbeat').dataset.liveAsOf !== seen",
                arg=seen,
            )
            assert tv.locator("#wall-grid a").count() == 0
            tv.locator("#wall-grid > li.tile").first.click()
            assert tv.url.endswith("/wall/")  # a tap goes nowhere, least of all to a login

            screens.reload()
            row = screens.locator("tbody.screen", has_text="Hall TV")
            screens.once("dialog", lambda dialog: dialog.accept())
            row.get_by_role("button", name="Revoke").click()
            row.locator(".status.revoked").wait_for()

            banner = tv.locator("#wall-banner")
            banner.wait_for(state="visible")
            assert "revoked" in banner.inner_text()
            tv.wait_for_function("() => !document.querySelector('#wall-grid > li.tile')")

            response = tv.reload()
            assert response is not None
            assert response.status == 403
            assert "/login/" not in tv.url
            text = tv.locator("main").inner_text()
            assert "no longer enrolled" in text
            assert "new enrolment link" in text
        finally:
            kiosk_context.close()


def test_a_stale_enrolment_form_says_what_to_do(browser: Any, stack: Stack):
    """A confirmation whose CSRF cookie was lost gets a page saying what to do, not Django's."""
    with logged_in(browser, stack) as admin:
        screens = admin.new_page()
        screens.goto("/screens/")
        screens.fill("#id_name", "Stale TV")
        screens.get_by_role("button", name="Create and get its enrolment link").click()
        url = screens.locator("#enrolment-url").input_value()

        kiosk_context = browser.new_context(viewport=TV)
        kiosk_context.set_default_timeout(15_000)
        try:
            tv = kiosk_context.new_page()
            tv.goto(url)
            kiosk_context.clear_cookies()  # as when the form was left open for too long
            tv.get_by_role("button", name="Enrol this screen").click()
            tv.wait_for_load_state()
            text = tv.locator("main").inner_text()
            assert "CSRF verification failed" not in text
            assert "Open the enrolment link again" in text
            tv.get_by_role("link", name="Open the enrolment link again").click()
            tv.get_by_role("button", name="Enrol this screen").click()
            tv.wait_for_url("**/wall/")
        finally:
            kiosk_context.close()
