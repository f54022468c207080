"""The socket protocol (core.realtime): stable group names, one send for every sender, a
limited wall assembled from its own stations' parts, and sends that fail without raising."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Profile
from core import realtime
from dashboard import wall
from dashboard.asgi import application
from screens import services as screens
from stations.jobs import run_job
from stations.models import PollRecord, Station
from stations.signals import poll_committed

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "cwork", "stations", "accounts", "audit", "screens", "actions", "kpis", "alerts")
TILE = re.compile(r'<li id="tile-(\d+)"')


def test_group_names_are_stable():
    """Sockets of a process started before a deploy and senders started after it meet in
    these groups (Redis): a name that changes is a wall that stops hearing."""
    assert realtime.WALL_ALL_GROUP == "wall.all"
    assert realtime.wall_group("workshop", "Turning") == "wall.workshop.9212a560fbad2a16"
    assert realtime.wall_group("mdc", "Fräsen 5-Achs") == "wall.mdc.393770f19b6a374e"
    assert realtime.wall_group("dnc", "HSCGroup") == "wall.dnc.0eb6e5c6d61168cc"
    assert realtime.station_group(7) == "station.7"
    assert realtime.STATION_HEARTBEAT_GROUP == "station.heartbeat"
    assert realtime.screen_group(3) == "screen.3"
    assert realtime.language_group("wall.all", "fr") == "wall.all.fr"
    assert realtime.language_group("wall.all", "de", kiosk=True) == "wall.all.de.kiosk"
    assert realtime.is_wall_group("wall.all.fr")
    assert not realtime.is_wall_group("station.7")


def test_the_message_types_are_the_consumers_handlers():
    from dashboard.consumers import StationConsumer, WallConsumer

    assert realtime.live_html([(1, "<li>")], tail="<hb>") == {
        "type": "live.html",
        "parts": [(1, "<li>")],
        "tail": "<hb>",
    }
    for message in (
        realtime.live_html(),
        realtime.screen_identify("Hall A"),
        realtime.screen_reload(),
        realtime.screen_revoked(),
    ):
        # Channels calls the method named after the type, dots as underscores.
        assert callable(getattr(WallConsumer, message["type"].replace(".", "_")))
    assert callable(getattr(StationConsumer, realtime.LIVE_HTML.replace(".", "_")))


def test_nothing_but_the_protocol_module_sends_on_the_channel_layer():
    """One send: every other module goes through ``realtime.send``."""
    senders = [
        path.relative_to(ROOT).as_posix()
        for package in (*APPS, "dashboard")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"group_send|get_channel_layer", path.read_text())
    ]
    assert senders == ["core/realtime.py"]


class RecordingLayer:
    """Stands in for the channel layer that ``realtime.send`` uses: what was sent, where."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.fail = fail

    async def group_send(self, group: str, message: dict) -> None:
        self.sent.append((group, message))
        if self.fail:
            raise ConnectionError("redis is down")


@pytest.mark.django_db(transaction=True)
def test_every_sender_goes_through_the_one_send(sim, cwork, clock, monkeypatch):
    """A poll's fan-out and a screen's commands all reach the layer ``realtime.send`` uses,
    and nothing reaches the real one by another way."""
    recording = RecordingLayer()
    real = get_channel_layer()
    channel = async_to_sync(real.new_channel)()
    for group in ("wall.all.en", "wall.all.en.kiosk", "station.heartbeat.en"):
        async_to_sync(real.group_add)(group, channel)
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: recording)
    screen, _ = screens.create_screen("Hall A", {}, 20)
    async_to_sync(real.group_add)(realtime.screen_group(screen.pk), channel)

    assert run_job("live", client=cwork, now=clock()).ok
    assert screens.identify(screen)
    assert screens.reload(screen)
    screens.revoke(screen)

    groups = [group for group, _ in recording.sent]
    assert {"wall.all.en", "wall.all.en.kiosk", "station.heartbeat.en"} <= set(groups)
    assert groups[-3:] == [realtime.screen_group(screen.pk)] * 3
    assert [m["type"] for _, m in recording.sent[-3:]] == [
        "screen.identify",
        "screen.reload",
        "screen.revoked",
    ]
    assert {m["type"] for _, m in recording.sent[:-3]} == {"live.html"}

    async def nothing_else() -> bool:
        try:
            await asyncio.wait_for(real.receive(channel), timeout=0.2)
        except TimeoutError:
            return True
        return False

    assert async_to_sync(nothing_else)()
    async_to_sync(real.flush)()


@pytest.mark.django_db(transaction=True)
def test_a_limited_wall_gets_exactly_its_stations_tiles_in_every_frame(
    sim, cwork, clock, monkeypatch
):
    """A poll where every station changed, sent in several frames: the limited user's socket
    gets its own stations' tiles, each once, and the heartbeat; an unlimited socket all."""
    monkeypatch.setattr(wall, "TILES_PER_FRAME", 5)
    run_job("catalogue", client=cwork, now=clock(), publish=lambda e: None)
    stations = list(Station.objects.order_by("workshop", "name"))
    allowed = {stations[1].pk, stations[6].pk, stations[11].pk}  # in three different frames
    limited = get_user_model().objects.create_user("limited", password="x" * 12)
    Profile.objects.create(user=limited).stations.set(allowed)
    everyone = get_user_model().objects.create_user("everyone", password="x" * 12)

    def cookie(user) -> bytes:
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    cookies = [cookie(limited), cookie(everyone)]

    async def frames_until_heartbeat(ws: WebsocketCommunicator) -> list[str]:
        frames = [await ws.receive_from(timeout=5)]
        while 'id="wall-heartbeat"' not in frames[-1]:
            frames.append(await ws.receive_from(timeout=5))
        return frames

    async def scenario() -> tuple[list[str], list[str]]:
        sockets = []
        for user_cookie in cookies:
            headers = [(b"host", b"localhost"), (b"origin", b"http://localhost")]
            ws = WebsocketCommunicator(
                application, "/ws/wall/", headers=[*headers, (b"cookie", user_cookie)]
            )
            assert (await ws.connect())[0]
            await frames_until_heartbeat(ws)  # the snapshot
            sockets.append(ws)
        await database_sync_to_async(run_job)("live", client=cwork, now=clock())
        got = [await frames_until_heartbeat(ws) for ws in sockets]
        assert await sockets[0].receive_nothing(timeout=0.3)
        for ws in sockets:
            await ws.disconnect()
        return got[0], got[1]

    limited_frames, all_frames = async_to_sync(scenario)()
    assert len(all_frames) == 3  # 12 tiles, 5 a frame
    assert sorted(int(pk) for pk in TILE.findall("".join(all_frames))) == sorted(
        s.pk for s in stations
    )
    limited_tiles = [int(pk) for frame in limited_frames for pk in TILE.findall(frame)]
    assert sorted(limited_tiles) == sorted(allowed)
    assert len(limited_frames) == 3  # a frame with one of its tiles each, the last with the beat
    assert "".join(limited_frames).count('id="wall-heartbeat"') == 1


def test_a_failed_send_is_logged_and_says_so_never_raised(monkeypatch, caplog):
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer(fail=True))
    with caplog.at_level(logging.ERROR, logger="core.realtime"):
        assert realtime.send("screen.1", realtime.screen_reload()) is False
    assert "Could not send screen.reload to screen.1" in caplog.text
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: RecordingLayer())
    assert realtime.send("screen.1", realtime.screen_reload()) is True


@pytest.mark.django_db(transaction=True)
def test_a_poll_stands_when_the_layer_is_down_and_stops_sending_at_the_first_failure(
    cwork, clock, monkeypatch
):
    """The poll is recorded, its ``poll_committed`` receivers (the alerts) run, and the
    cycle does not try every other group against a layer that is down."""
    broken = RecordingLayer(fail=True)
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: broken)
    committed: list[str] = []

    def after_poll(sender, kind, **kwargs) -> None:
        committed.append(kind)

    poll_committed.connect(after_poll, dispatch_uid="test-realtime")
    try:
        result = run_job("live", client=cwork, now=clock())
    finally:
        poll_committed.disconnect(dispatch_uid="test-realtime")
    assert result.ok
    assert PollRecord.objects.filter(kind="live", ok=True).exists()
    assert committed == ["live"]
    assert len(broken.sent) == 1


class HomeLoop:
    """An event loop in a thread, as daphne's is in the embedded run, with its own layer."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.layer = InMemoryChannelLayer()

    def run(self, coroutine, timeout: float = 2.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)
        self.loop.close()


@pytest.fixture
def home_loop(monkeypatch):
    home = HomeLoop()
    monkeypatch.setattr(realtime, "get_channel_layer", lambda: home.layer)
    realtime.use_event_loop(home.loop)
    yield home
    realtime.use_event_loop(None)
    home.stop()


def test_the_embedded_run_sends_from_a_thread_through_the_servers_loop(home_loop, monkeypatch):
    channel = home_loop.run(home_loop.layer.new_channel())
    home_loop.run(home_loop.layer.group_add("wall.all.en", channel))
    loops: list[asyncio.AbstractEventLoop] = []
    group_send = home_loop.layer.group_send

    async def on_which_loop(group: str, message: dict) -> None:
        loops.append(asyncio.get_running_loop())
        await group_send(group, message)

    monkeypatch.setattr(home_loop.layer, "group_send", on_which_loop)
    assert realtime.send("wall.all.en", realtime.live_html(tail="<hb>")) is True
    assert loops == [home_loop.loop]  # the in-process layer's queues live in that loop
    message = home_loop.run(home_loop.layer.receive(channel))
    assert realtime.live_html_text(message) == "<hb>"


def test_a_send_the_servers_loop_never_finishes_times_out_as_a_failure(home_loop, monkeypatch):
    async def stuck(group: str, message: dict) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(home_loop.layer, "group_send", stuck)
    assert realtime.send("screen.1", realtime.screen_revoked(), timeout=0.1) is False
