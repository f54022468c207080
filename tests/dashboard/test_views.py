"""The station board and the health endpoint, as a browser and a load balancer see them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.colours import readable_text_color
from screens import services as screens
from stations.jobs import run_job
from stations.models import LiveStatus, Station
from tests.lookups import present

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create_user("viewer", password="x" * 12)
    client.force_login(user)
    return client


def test_the_wall_needs_a_login_or_an_enrolled_screen(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[0] == ("/wall/", 302)
    assert response.redirect_chain[-1][0].startswith("/login/?next=/wall/")


def test_the_wall_shows_every_station_in_its_state_colour(viewer, sim):
    with sim.client() as cwork:
        assert run_job("live", client=cwork, publish=lambda e: None).ok
    response = viewer.get("/wall/")
    body = response.content.decode()
    assert response.status_code == 200
    for live in LiveStatus.objects.select_related("station", "state"):
        assert f'id="tile-{live.station_id}"' in body
        assert f"--state: {present(live.state).color}" in body
        assert live.station.name in body
    assert 'data-stale="0"' in body
    assert 'ws-connect="/ws/wall/"' in body


def test_without_websockets_htmx_gets_the_snapshot(viewer, sim):
    with sim.client() as cwork:
        run_job("live", client=cwork, publish=lambda e: None)
    body = viewer.get("/wall/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in body
    assert '<ul id="wall-grid" class="wall-grid"' in body
    assert 'hx-swap-oob="true"' in body
    assert 'id="wall-heartbeat"' in body


def test_stale_data_is_never_shown_as_live(viewer, sim, settings):
    with sim.client() as cwork:
        run_job(
            "live",
            client=cwork,
            now=timezone.now() - timedelta(seconds=10 * settings.POLL_INTERVAL),
            publish=lambda e: None,
        )
    body = viewer.get("/wall/").content.decode()
    assert 'data-stale="1"' in body  # the page dims every tile and says why
    # ...but no tile is marked "not reporting" for it: that is each station's own fact, and
    # the page clears the dimming by itself once heartbeats return.
    assert "tile not-reporting" not in body


def test_a_kiosk_screen_sees_its_own_filters_whatever_the_url(client, sim):
    with sim.client() as cwork:
        run_job("live", client=cwork, publish=lambda e: None)
    workshops = sorted(set(Station.objects.values_list("workshop", flat=True)))
    _screen, token = screens.create_screen("Hall A", {"workshop": workshops[0]}, 30)
    _, secret = screens.enrol(token)
    client.cookies[screens.DEVICE_COOKIE] = secret
    body = client.get(f"/wall/?workshop={workshops[1]}").content.decode()
    shown = Station.objects.filter(workshop=workshops[0])
    assert body.count('<li id="tile-') == shown.count()
    assert "Hall A" in body
    assert 'data-rotation="30"' in body
    assert "Filter" not in body  # a kiosk cannot change what it shows
    assert client.get("/screens/").status_code == 302  # and sees nothing else


def test_health_says_whether_data_flows(client, sim):
    assert client.get("/health").json()["status"] == "stale"
    assert client.get("/health?fresh").status_code == 503
    with sim.client() as cwork:
        run_job("live", client=cwork, publish=lambda e: None)
    body = client.get("/health?fresh").json()
    assert body["status"] == "ok"
    assert body["jobs"]["live"]["failures"] == 0


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#00FF00", "#000000"),
        ("#FF0000", "#000000"),
        ("#0000FF", "#ffffff"),
        ("#000000", "#ffffff"),
        ("#FFFF00", "#000000"),
        ("#808080", "#000000"),
        ("bad", "#ffffff"),
    ],
)
def test_tile_text_is_black_or_white_whichever_contrasts_more(background, text):
    assert readable_text_color(background) == text
