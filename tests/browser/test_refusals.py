"""A tap that the server refuses says so where the user looks, in a real browser.

A supervisor's session ends (its cookie is gone, as after an expiry) or their role is lowered
while the station page is open; they fill a form and tap its button. Before, htmx swapped
nothing on the 403 (or swapped the login page into the panel): the tap did nothing visible.
Now the refusal shows beside the form, what was typed stays, and the login link brings the
user back to the same station with the value put back.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import TABLET, Stack, Wall, logged_in_as

pytestmark = pytest.mark.slow

CREATE_SUPERVISOR = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user(
    os.environ["TEST_USERNAME"], password=os.environ["TEST_PASSWORD"]
)
user.groups.add(Group.objects.get(name="Supervisor"))
"""
LOWER_TO_VIEWER = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.get(username=os.environ["TEST_USERNAME"])
user.groups.set([Group.objects.get(name="Viewer")])
"""
#: The first station's pk, from the stored stations.
FIRST_STATION = (
    "from stations.models import Station; print(Station.objects.order_by('pk').first().pk)"
)


@pytest.fixture(scope="module")
def station_pk(stack: Stack) -> int:
    return int(stack.manage("shell", "-c", FIRST_STATION).stdout.strip().splitlines()[-1])


def log_in(page: Any, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.fixture
def supervisor(browser: Any, stack: Stack) -> Iterator[tuple[Wall, str, str]]:
    """A tablet logged in as a new supervisor (a fresh one per test: one test lowers it)."""
    username = f"sup-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    env = {"TEST_USERNAME": username, "TEST_PASSWORD": password}
    stack.manage("shell", "-c", CREATE_SUPERVISOR, env=env)
    with logged_in_as(browser, stack, username, password, TABLET) as tablet:
        yield tablet, username, password


def fill_reset_form(page: Any, pk: int, value: str) -> Any:
    page.goto(f"/stations/{pk}/")
    reset = page.locator("#station-actions details:has(form[action$='/reset_parts/'])")
    reset.locator("summary").click()
    reset.locator("#reset-parts-value").fill(value)
    return reset


def test_an_expired_session_says_so_keeps_the_input_and_logs_back_in_to_the_station(
    supervisor: tuple[Wall, str, str], station_pk: int
):
    tablet, username, password = supervisor
    page = tablet.page
    reset = fill_reset_form(page, station_pk, "7")
    page.context.clear_cookies(name="sessionid")  # the session has ended meanwhile
    reset.get_by_role("button", name="Confirm: reset the count").click()

    refusal = page.locator("#station-actions .htmx-refusal[data-refusal=login]")
    refusal.wait_for(state="visible")
    assert "session has ended" in refusal.inner_text()
    box = refusal.bounding_box()
    assert box is not None
    assert box["height"] > 0
    assert page.locator("#reset-parts-value").input_value() == "7", "the input was lost"
    assert not page.locator("#station-actions .result").count(), "something was done"

    refusal.get_by_role("link", name="Log in").click()
    page.wait_for_url("**/login/**")
    log_in(page, username, password)
    page.wait_for_url(f"**/stations/{station_pk}/")
    assert page.locator("#reset-parts-value").input_value() == "7", "not put back"


def test_a_lowered_role_is_refused_in_plain_words(
    stack: Stack, supervisor: tuple[Wall, str, str], station_pk: int
):
    tablet, username, _ = supervisor
    page = tablet.page
    reset = fill_reset_form(page, station_pk, "3")
    stack.manage("shell", "-c", LOWER_TO_VIEWER, env={"TEST_USERNAME": username})
    reset.get_by_role("button", name="Confirm: reset the count").click()

    refusal = page.locator("#station-actions .htmx-refusal[data-refusal=forbidden]")
    refusal.wait_for(state="visible")
    assert "no longer allowed" in refusal.inner_text()
    assert page.locator("#reset-parts-value").input_value() == "3"
    page.screenshot(path=str(stack.workdir / "refused-tablet.png"))
