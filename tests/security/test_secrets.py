"""CWork API keys (the service's and a user's own) never leave the server: not in a page, an
HTMX fragment, a socket frame, an export, nor a log line, failures included."""

from __future__ import annotations

import base64
import io
import logging
import re
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django.urls import NoReverseMatch, reverse
from openpyxl import load_workbook

from accounts.models import Profile
from dashboard.asgi import application
from kpis import views as kpi_views
from screens.models import Screen
from stations.jobs import run_job
from stations.models import Station
from tests.security.helpers import socket_headers
from tests.security.test_access import ALL_ROUTES, concrete
from tests.security.test_injection import SERVICE_KEY, USER_KEY, World
from tests.stations.helpers import other_state
from tests.stations.test_actions import ALL, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def forms_of(key: str) -> list[str]:
    """The key as it could leak: plain, in a Basic header, URL-quoted halves."""
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return [key, key.upper(), basic, basic.rstrip("="), key[: len(key) // 2 + 4]]


LEAKS = [*forms_of(SERVICE_KEY), *forms_of(USER_KEY)]


def assert_no_key(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text, f"a CWork API key in {where}"


@pytest.fixture
def world(settings, monkeypatch, caplog) -> World:
    settings.CWORK_API_KEY = SERVICE_KEY
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "cwork", "simulator", "stations", "django", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)
    world = World(poisoned=False)
    world.wire_actions(monkeypatch)
    monkeypatch.setattr(kpi_views, "_now", world.clock)
    return world


def olga() -> User:
    user = get_user_model().objects.create_superuser("olga", "", "x" * 12)
    Profile.objects.create(user=user, cwork_api_key=USER_KEY)
    return user


def act(client: Client, station: Station, action: str, **values) -> str:
    response = client.post(
        f"/stations/{station.pk}/actions/{action}/",
        {**values, "idempotency_key": uuid.uuid4().hex},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_no_key_in_logs_pages_fragments_exports_or_frames(world, caplog):
    world.fill()
    for kind in ("catalogue", "live", "history", "orders", "kpis"):
        with world.client() as cwork:
            run_job(kind, client=cwork, now=world.clock(), publish=lambda event: None)
    user = olga()
    service = make_user("sup", *ALL)
    station = world.writable()
    handle = station.cwork_id
    fragments = []
    for client_user in (user, service):
        client = Client()
        client.force_login(client_user)
        target = other_state(world.sim, handle)
        fragments.append(act(client, station, "change_state", state=target, comment="hi"))
        fragments.append(act(client, station, "change_state", state=4))  # refused for Olga
        fragments.append(act(client, station, "reset_parts", part_count=3))
        fragments.append(act(client, station, "reset_parts", part_count=-3))  # invalid
        world.sim.faults.configure(error_rate=1.0, error_codes=[4000])
        fragments.append(act(client, station, "force_auto"))
        world.sim.faults.configure(error_rate=1.0, error_codes=[2023])
        fragments.append(act(client, station, "force_auto"))
        world.sim.faults.reset()
    # Syncs that fail: a bad key, then CWork's errors.
    with world.client(api_key="wrong-" + SERVICE_KEY[6:]) as cwork:
        run_job("catalogue", client=cwork, now=world.clock(), publish=lambda event: None)
    world.sim.faults.configure(error_rate=1.0, error_codes=[4000])
    with world.client() as cwork:
        for kind in ("live", "history"):
            run_job(kind, client=cwork, now=world.clock(), publish=lambda event: None)
    world.sim.faults.reset()

    for index, fragment in enumerate(fragments):
        assert_no_key(fragment, f"action fragment {index}")

    client = Client()
    client.force_login(user)
    ids = {"stations": station.pk, "screens": 0}
    client.post("/screens/new/", {"name": "TV", "rotation_seconds": 20})
    ids["screens"] = Screen.objects.get().pk
    query = world.review_query()
    scanned = 0
    for route in ALL_ROUTES:
        if route.name in ("logout", "screens:delete", "screens:revoke"):
            continue
        url = concrete(route, ids)
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, query if route.namespace == "kpis" else {}, headers=headers)
            assert response.status_code < 500, url
            body = b"".join(response) if response.streaming else response.content
            if url.endswith(".xlsx") and response.status_code == 200:
                book = load_workbook(io.BytesIO(body))
                for sheet in book.worksheets:
                    for row in sheet.iter_rows(values_only=True):
                        assert_no_key(" ".join(str(v) for v in row), f"{url} sheet")
            assert_no_key(body, url)
            assert_no_key(str(response.headers), f"{url} headers")
            scanned += 1
    assert scanned > 30
    # The admin: every model's list and first object's page.
    for model, _admin in admin.site._registry.items():
        meta = model._meta
        try:
            changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        response = client.get(changelist)
        assert response.status_code < 500, changelist
        assert_no_key(response.content, changelist)
        first = model._default_manager.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            response = client.get(change)
            assert response.status_code < 500, change
            assert_no_key(response.content, change)
    response = client.get(reverse("admin:auth_user_change", args=[user.pk]))
    assert response.status_code == 200
    assert_no_key(response.content, "the user's admin page")
    assert_no_key(client.get("/admin/").content, "admin index")

    # What the logs said through all of it.
    assert caplog.records
    for record in caplog.records:
        assert_no_key(record.getMessage(), f"log {record.name}")
        assert_no_key(repr(record.args), f"log args {record.name}")
    assert_no_key(caplog.text, "the formatted log")


def test_no_key_in_socket_frames(world):
    world.fill()
    user = olga()
    client = Client()
    client.force_login(user)
    station = world.writable()
    headers = socket_headers(client)

    async def scenario():
        wall = WebsocketCommunicator(application, "/ws/wall/", headers=headers)
        page = WebsocketCommunicator(application, f"/ws/stations/{station.pk}/", headers=headers)
        assert (await wall.connect())[0]
        assert (await page.connect())[0]
        frames = [await wall.receive_from(timeout=5), await page.receive_from(timeout=5)]
        target = await database_sync_to_async(other_state)(world.sim, station.cwork_id)
        fragment = await database_sync_to_async(act)(
            client, station, "change_state", state=target, comment="x"
        )
        frames.append(fragment)
        frames += [await wall.receive_from(timeout=5), await page.receive_from(timeout=5)]
        await wall.disconnect()
        await page.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    assert len(frames) == 5
    for index, frame in enumerate(frames):
        assert_no_key(frame, f"frame {index}")
    assert re.search(r'id="station-live"', frames[-1])
