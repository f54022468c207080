"""A user limited to some workshops or stations sees those only: on the wall (page,
snapshot and socket), in the overview, on station pages and their sockets."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Profile
from core import realtime
from dashboard.asgi import application
from dashboard.wall import WallFilter
from stations.jobs import run_job
from stations.models import Station
from tests.lookups import present
from tests.stations.helpers import other_state

pytestmark = pytest.mark.django_db(transaction=True)

TILE = re.compile(r'<li id="tile-(\d+)"')


def writable_handles(sim) -> list[int]:
    return [
        handle
        for handle in range(1, 13)
        if not sim.world.station(handle).disabled and sim.world.station(handle).mdc_mode
    ]


@pytest.fixture
def limited(sim, cwork, clock):
    """A user limited to one workshop and one station of another: (client, cookie, ids)."""
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    handles = writable_handles(sim)
    inside = Station.objects.get(cwork_id=handles[0])
    outside = Station.objects.filter(cwork_id__in=handles).exclude(workshop=inside.workshop)[0]
    extra = (
        Station.objects.exclude(workshop__in=[inside.workshop, outside.workshop])
        .order_by("pk")
        .first()
    )
    assert extra is not None
    user = get_user_model().objects.create_user("limited", password="x" * 12)
    profile = Profile.objects.create(user=user, workshops=[inside.workshop])
    profile.stations.add(extra)
    allowed = set(Station.objects.filter(workshop=inside.workshop).values_list("pk", flat=True)) | {
        extra.pk
    }
    assert 1 < len(allowed) < Station.objects.count()
    assert outside.pk not in allowed
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return client, cookie, allowed, inside, outside


def socket(path: str, cookie: bytes) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, path, headers=headers)


def tile_ids(html: str) -> set[int]:
    return {int(pk) for pk in TILE.findall(html)}


def test_the_wall_page_and_its_snapshot_show_only_the_users_stations(limited):
    client, _, allowed, _, outside = limited
    page = client.get("/wall/")
    assert page.status_code == 200
    assert tile_ids(page.content.decode()) == allowed
    snapshot = client.get("/wall/", headers={"HX-Request": "true"})
    assert tile_ids(snapshot.content.decode()) == allowed
    # A filter in the URL narrows the limit, never widens it.
    filtered = client.get("/wall/", {"workshop": outside.workshop})
    assert tile_ids(filtered.content.decode()) == set()


def test_the_wall_socket_sends_only_the_users_tiles(limited, sim, cwork, clock):
    _, cookie, allowed, inside, outside = limited

    async def scenario():
        ws = socket("/ws/wall/", cookie)
        connected, _ = await ws.connect()
        assert connected
        snapshot = await ws.receive_from(timeout=5)
        for station in (inside, outside):
            sim.world.change_state(station.cwork_id, other_state(sim, station.cwork_id), "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frame = await ws.receive_from(timeout=5)
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return snapshot, frame

    snapshot, frame = async_to_sync(scenario)()
    assert tile_ids(snapshot) == allowed
    assert f'id="tile-{inside.pk}"' in frame
    assert f'id="tile-{outside.pk}"' not in frame
    assert 'id="wall-heartbeat"' in frame


def test_an_unlimited_users_socket_still_gets_every_tile(limited, sim, cwork, clock):
    _, _, _, inside, outside = limited
    everyone = get_user_model().objects.create_user("everyone", password="x" * 12)
    client = Client()
    client.force_login(everyone)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        ws = socket("/ws/wall/", cookie)
        await ws.connect()
        snapshot = await ws.receive_from(timeout=5)
        for station in (inside, outside):
            sim.world.change_state(station.cwork_id, other_state(sim, station.cwork_id), "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frame = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return snapshot, frame

    snapshot, frame = async_to_sync(scenario)()
    assert len(tile_ids(snapshot)) == Station.objects.count()
    assert {inside.pk, outside.pk} <= tile_ids(frame)


def test_a_limited_wall_keeps_its_own_parts_and_drops_a_message_that_has_none():
    limited = WallFilter(stations=frozenset({1})).allows
    message = realtime.live_html([(1, "<a>1</a>"), (2, "<b>2</b>")], tail="<hb>")
    assert realtime.live_html_text(message, limited) == "<a>1</a><hb>"
    assert realtime.live_html_text(message, WallFilter().allows) == "<a>1</a><b>2</b><hb>"
    assert realtime.live_html_text(message) == "<a>1</a><b>2</b><hb>"
    # Over Redis the parts come back as lists.
    assert realtime.live_html_text({**message, "parts": [[2, "<b>2</b>"]]}, limited) == "<hb>"
    # The old shape (one string and its tiles' lengths) or a broken part: nothing.
    old = {"type": "live.html", "html": "<b>2</b>", "tiles": [[2, 8]]}
    assert realtime.live_html_text(old, limited) == ""
    assert realtime.live_html_text({**message, "parts": [[1]]}, limited) == ""


def test_the_overview_lists_only_the_users_stations(limited):
    client, _, allowed, _, _ = limited
    response = client.get("/stations/")
    assert response.status_code == 200
    assert {row.station.pk for row in response.context["rows"]} == allowed
    fragment = client.get("/stations/", {"q": ""}, headers={"HX-Request": "true"})
    assert {row.station.pk for row in fragment.context["rows"]} == allowed


def test_another_stations_page_is_404_and_its_socket_refused(limited):
    client, cookie, _, inside, outside = limited
    assert client.get(f"/stations/{inside.pk}/").status_code == 200
    assert client.get(f"/stations/{outside.pk}/").status_code == 404

    async def scenario():
        refused = socket(f"/ws/stations/{outside.pk}/", cookie)
        connected, code = await refused.connect()
        assert connected is False
        allowed = socket(f"/ws/stations/{inside.pk}/", cookie)
        ok, _ = await allowed.connect()
        assert ok
        first = await allowed.receive_from(timeout=5)
        await allowed.disconnect()
        return code, first

    code, first = async_to_sync(scenario)()
    assert code == 4403
    assert 'id="station-live"' in first


def test_the_open_pages_refresh_of_a_station_no_longer_visible_says_no_longer_allowed(limited):
    """Its page was open before the limit: the refresh is refused, not "not found"; a station
    that does not exist is still not found, and the page itself still 404."""
    client, _, _, _, outside = limited
    htmx = {"HX-Request": "true", "HX-Current-URL": f"http://testserver/stations/{outside.pk}/"}
    refused = client.get(f"/stations/{outside.pk}/", headers=htmx)
    assert refused.status_code == 403
    assert refused["X-Refusal"] == "forbidden"
    assert "no longer allowed to see this" in refused.content.decode()
    missing = present(Station.objects.order_by("-pk").first()).pk + 1
    assert client.get(f"/stations/{missing}/", headers=htmx).status_code == 404
    assert client.get(f"/stations/{outside.pk}/").status_code == 404
