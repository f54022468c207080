"""The station board and the health endpoint, as a browser and a load balancer see them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from stations.jobs import run_job
from stations.models import LiveStatus
from stations.selectors import readable_text_color

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create_user("viewer", password="x" * 12)
    client.force_login(user)
    return client


def test_the_board_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_board_shows_every_station_in_its_state_colour(viewer, sim):
    with sim.client() as cwork:
        assert run_job("live", client=cwork, publish=lambda e: None).ok
    response = viewer.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    for live in LiveStatus.objects.select_related("station", "state"):
        assert f'id="station-{live.station_id}"' in body
        assert f"--state: {live.state.color}" in body
        assert live.station.name in body
    assert "No news from CWork" not in body
    assert 'hx-trigger="every 2s"' in body


def test_htmx_asks_for_the_grid_alone(viewer, sim):
    with sim.client() as cwork:
        run_job("live", client=cwork, publish=lambda e: None)
    body = viewer.get("/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in body
    assert 'class="grid"' in body


def test_stale_data_is_never_shown_as_live(viewer, sim, settings):
    with sim.client() as cwork:
        run_job(
            "live",
            client=cwork,
            now=timezone.now() - timedelta(seconds=10 * settings.POLL_INTERVAL),
            publish=lambda e: None,
        )
    body = viewer.get("/").content.decode()
    assert "No news from CWork: the data below is from" in body
    assert body.count("not reporting") >= LiveStatus.objects.count()


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
