"""The wall's live path: one render per changed tile, one message per group, over a socket."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.signals import template_rendered

from core import realtime
from dashboard import wall as wall_module
from dashboard.asgi import application
from dashboard.wall import ALL_GROUP, WallFilter, fan_out, groups_of, wall_groups
from screens import services as screens
from screens.models import Screen
from stations.events import StationsChanged
from stations.jobs import run_job
from stations.models import LiveStatus, Station
from tests.lookups import present
from tests.stations.helpers import other_state, writable_station

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def rendered_templates():
    names: list[str] = []

    def record(sender, template, context, **kwargs):
        names.append(template.name)

    template_rendered.connect(record)
    try:
        yield names
    finally:
        template_rendered.disconnect(record)


def session_cookie(username: str = "viewer") -> bytes:
    user = get_user_model().objects.create_user(username, password="x" * 12)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(path: str, cookie: bytes = b"", origin: bytes = b"http://localhost"):
    headers = [(b"host", b"localhost"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


def test_a_filter_comes_from_the_url_and_picks_its_stations(sim, cwork, clock):
    run_job("catalogue", client=cwork, now=clock(), publish=lambda e: None)
    station = Station.objects.exclude(workshop="").first()
    assert station is not None
    wall_filter = WallFilter.from_mapping({"workshop": station.workshop, "junk": "x"})
    assert wall_filter.query() == f"workshop={station.workshop.replace(' ', '+')}"
    assert wall_filter.matches(station)
    assert wall_filter.group() in groups_of(station)
    other = Station.objects.exclude(workshop=station.workshop).first()
    assert other is not None
    assert not wall_filter.matches(other)
    assert wall_filter.group() not in groups_of(other)


def test_each_changed_tile_is_rendered_once_and_sent_once_per_group(sim, cwork, clock):
    published: list[StationsChanged] = []
    run_job("live", client=cwork, now=clock(), publish=published.append)
    handle = writable_station(sim)
    sim.world.change_state(handle, other_state(sim, handle), "")
    run_job("live", client=cwork, now=clock(), publish=published.append)

    with rendered_templates() as names:
        messages = fan_out(published[-1])

    assert names.count("wall/_tile.html") == 1
    station = Station.objects.get(cwork_id=handle)
    assert set(messages) == groups_of(station) | {f"station.{station.pk}"}
    for group in groups_of(station):
        assert messages[group].count(f'id="tile-{station.pk}"') == 1
        assert 'hx-swap-oob="true"' in messages[group]


def test_a_logged_in_wall_gets_a_snapshot_then_each_change(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    cookie = session_cookie()
    handle = writable_station(sim)
    state = other_state(sim, handle)

    async def scenario():
        ws = socket("/ws/wall/", cookie)
        connected, _ = await ws.connect()
        assert connected
        snapshot = await ws.receive_from(timeout=5)
        assert snapshot.count('<li id="tile-') == 12
        assert 'id="wall-heartbeat"' in snapshot

        sim.world.change_state(handle, state, "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frame = await ws.receive_from(timeout=5)
        assert await ws.receive_nothing(timeout=0.3)  # one frame per poll
        await ws.disconnect()
        return frame

    tiles = heartbeat = async_to_sync(scenario)()
    live = LiveStatus.objects.select_related("state").get(station__cwork_id=handle)
    assert live.state is not None
    assert f'id="tile-{live.station_id}"' in tiles
    assert live.state.name in tiles
    assert f"--state: {live.state.color}" in tiles
    assert 'id="wall-heartbeat"' in heartbeat


def test_a_wall_hears_a_heartbeat_even_when_nothing_changed(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    cookie = session_cookie()

    async def scenario():
        ws = socket("/ws/wall/", cookie)
        await ws.connect()
        await ws.receive_from(timeout=5)
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frame = await ws.receive_from(timeout=5)
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return frame

    frame = async_to_sync(scenario)()
    assert frame.startswith('<span id="wall-heartbeat"')


def test_a_filtered_wall_shows_only_its_stations(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    workshop = Station.objects.exclude(workshop="").values_list("workshop", flat=True).first()
    assert workshop is not None
    expected = Station.objects.filter(workshop=workshop).count()
    cookie = session_cookie()

    async def scenario():
        ws = socket(f"/ws/wall/?workshop={workshop.replace(' ', '+')}", cookie)
        await ws.connect()
        snapshot = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return snapshot

    assert 0 < expected < 12
    assert async_to_sync(scenario)().count('<li id="tile-') == expected


def test_anonymous_sockets_and_foreign_origins_are_refused(sim, cwork, clock):
    cookie = session_cookie()

    async def scenario():
        anonymous = socket("/ws/wall/")
        assert (await anonymous.connect())[0] is False
        foreign = socket("/ws/wall/", cookie, origin=b"https://evil.example")
        assert (await foreign.connect())[0] is False
        station_page = socket("/ws/stations/1/")
        assert (await station_page.connect())[0] is False

    async_to_sync(scenario)()


def test_groups_cover_every_screen_that_shows_a_station(sim, cwork, clock):
    run_job("catalogue", client=cwork, now=clock(), publish=lambda e: None)
    for station in Station.objects.all():
        groups = groups_of(station)
        assert ALL_GROUP in groups
        assert groups <= wall_groups() | {f"station.{station.pk}"}
        for mdc in station.mdc_groups:
            assert WallFilter(mdc_group=mdc).group() in groups


def test_a_kiosk_screen_listens_with_its_cookie_until_revoked(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    workshop = Station.objects.exclude(workshop="").values_list("workshop", flat=True).first()
    assert workshop is not None
    screen, token = screens.create_screen("Hall", {"workshop": workshop}, 20)
    _, secret = screens.enrol(token)
    cookie = f"{screens.DEVICE_COOKIE}={secret}".encode()

    async def scenario():
        ws = socket("/ws/wall/?workshop=other", cookie)
        connected, _ = await ws.connect()
        assert connected
        snapshot = await ws.receive_from(timeout=5)
        assert await database_sync_to_async(lambda: Screen.objects.get(pk=screen.pk).is_online)()

        await database_sync_to_async(screens.identify)(screen)
        identify = await ws.receive_from(timeout=5)
        await database_sync_to_async(screens.revoke)(screen)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()  # what the server does after its own close
        refused = socket("/ws/wall/", cookie)
        again, _ = await refused.connect()
        return snapshot, identify, closed, again

    snapshot, identify, closed, again = async_to_sync(scenario)()
    assert snapshot.count('<li id="tile-') == Station.objects.filter(workshop=workshop).count()
    assert 'data-command="identify"' in identify
    assert "Hall" in identify
    assert closed == {"type": "websocket.close", "code": 4403}
    assert again is False
    assert Screen.objects.get(pk=screen.pk).connected_sockets == 0


def test_a_station_page_socket_gets_its_station_live(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    cookie = session_cookie()
    handle = writable_station(sim)
    station = Station.objects.get(cwork_id=handle)
    state = other_state(sim, handle)

    async def scenario():
        ws = socket(f"/ws/stations/{station.pk}/", cookie)
        connected, _ = await ws.connect()
        assert connected
        first = await ws.receive_from(timeout=5)
        sim.world.change_state(handle, state, "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        update = await ws.receive_from(timeout=5)
        await ws.disconnect()
        return first, update

    first, update = async_to_sync(scenario)()
    assert 'id="station-live"' in first
    assert 'id="station-live"' in update
    assert present(LiveStatus.objects.get(station=station).state).name in update


def test_a_big_wall_gets_its_snapshot_and_changes_in_messages_under_the_size_limit(
    sim, cwork, clock, monkeypatch
):
    """Daphne closes a socket sent more than 1 MiB at once: a wall of thousands of stations
    gets its tiles in several messages, and the heartbeat last."""
    monkeypatch.setattr(wall_module, "TILES_PER_FRAME", 5)
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    cookie = session_cookie()
    stations = list(Station.objects.values_list("pk", flat=True))
    assert len(stations) == 12

    async def scenario():
        ws = socket("/ws/wall/", cookie)
        assert (await ws.connect())[0]
        snapshot = [await ws.receive_from(timeout=5) for _ in range(3)]
        assert await ws.receive_nothing(timeout=0.3)
        # Everything changes at once (CWork back after an outage, say).
        await database_sync_to_async(_every_station_changes)(sim)
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        changes = [await ws.receive_from(timeout=5) for _ in range(3)]
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return snapshot, changes

    snapshot, changes = async_to_sync(scenario)()
    assert 'id="wall-grid"' in snapshot[0]
    assert 'hx-swap-oob="true"' in snapshot[0]
    for frame in snapshot[1:]:
        assert frame.startswith('<ul hx-swap-oob="beforeend:#wall-grid">')
    assert [f.count('<li id="tile-') for f in snapshot] == [5, 5, 2]
    assert all("".join(snapshot).count(f'<li id="tile-{pk}"') == 1 for pk in stations)
    changed = list(_writable(sim).values_list("pk", flat=True))
    assert len(changed) > 10
    assert [f.count('<li id="tile-') for f in changes] == [5, 5, len(changed) - 10]
    assert all("".join(changes).count(f'<li id="tile-{pk}"') == 1 for pk in changed)
    for frames in (snapshot, changes):
        assert ['id="wall-heartbeat"' in f for f in frames] == [False, False, True]


def _writable(sim):
    return Station.objects.filter(disabled=False, mdc_mode=True)


def _every_station_changes(sim) -> None:
    for station in _writable(sim):
        sim.world.change_state(station.cwork_id, other_state(sim, station.cwork_id), "")


def test_a_kiosk_screens_tiles_are_not_links_on_its_page_nor_over_its_socket(sim, cwork, clock):
    """A kiosk has no station pages: a tap on a tile must not lead to a login page."""
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    _, token = screens.create_screen("Hall", {}, 20)
    _, secret = screens.enrol(token)
    cookie = f"{screens.DEVICE_COOKIE}={secret}".encode()
    user_cookie = session_cookie()
    handle = writable_station(sim)
    state = other_state(sim, handle)

    kiosk_page = Client()
    kiosk_page.cookies[screens.DEVICE_COOKIE] = secret
    body = kiosk_page.get("/wall/").content.decode()
    assert body.count('<li id="tile-') == 12
    assert body.count('<span class="tile-name"') == 12
    assert "/stations/" not in body

    async def scenario():
        kiosk, user = socket("/ws/wall/", cookie), socket("/ws/wall/", user_cookie)
        for ws in (kiosk, user):
            connected, _ = await ws.connect()
            assert connected
        snapshots = [await ws.receive_from(timeout=5) for ws in (kiosk, user)]
        sim.world.change_state(handle, state, "")
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        frames = [await ws.receive_from(timeout=5) for ws in (kiosk, user)]
        assert await kiosk.receive_nothing(timeout=0.3)  # one frame per poll
        for ws in (kiosk, user):
            await ws.disconnect()
        return snapshots, frames

    (kiosk_snapshot, user_snapshot), (kiosk_frame, user_frame) = async_to_sync(scenario)()
    station = Station.objects.get(cwork_id=handle)
    assert kiosk_snapshot.count('<span class="tile-name"') == 12
    assert "<a " not in kiosk_snapshot
    assert user_snapshot.count('<a class="tile-name"') == 12
    assert f'id="tile-{station.pk}"' in kiosk_frame
    assert "<a " not in kiosk_frame
    assert f'href="/stations/{station.pk}/"' in user_frame
    # Otherwise the very same tile.
    link = f'<a class="tile-name" href="/stations/{station.pk}/" title="{station.name}">'
    assert link in user_frame
    kiosk_name = f'<span class="tile-name" title="{station.name}">'
    tail_then_link_end = r'(<span class="tile-name-tail">[^<]*</span>)</a>'
    expected = re.sub(tail_then_link_end, r"\1</span>", user_frame.replace(link, kiosk_name))
    assert kiosk_frame == expected


def test_a_kiosk_tile_is_the_users_tile_without_its_link(sim, cwork, clock):
    run_job("live", client=cwork, now=clock(), publish=lambda e: None)
    for tile in wall_module.wall_tiles(WallFilter(), clock()):
        html = wall_module.render_tile(tile, oob=True)
        assert wall_module.kiosk_tile(tile, html) == wall_module.render_tile(
            tile, oob=True, kiosk=True
        )
    # A tile whose name is not where it is expected is drawn again, never sent with a link.
    tile = wall_module.wall_tiles(WallFilter(), clock())[0]
    assert wall_module.kiosk_tile(tile, "<li>changed</li>") == wall_module.render_tile(
        tile, oob=False, kiosk=True
    )


def test_without_kiosk_screens_nothing_is_sent_for_them(sim, cwork, clock, monkeypatch):
    published: list[StationsChanged] = []
    run_job("live", client=cwork, now=clock(), publish=published.append)
    sent: list[str] = []

    def record(group: str, message: object) -> bool:
        sent.append(group)
        return True

    monkeypatch.setattr(realtime, "send", record)
    wall_module.publish_cycle(published[-1])
    assert sent
    assert not [group for group in sent if group.endswith(".kiosk")]
    screens.create_screen("Hall", {}, 20)
    sent.clear()
    wall_module.publish_cycle(published[-1])
    assert realtime.language_group(ALL_GROUP, "en", kiosk=True) in sent
