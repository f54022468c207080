"""Text that CWork sends is shown escaped everywhere, colours only as #RRGGBB, and exports
never hand a spreadsheet a formula.

The hostile text reaches the database the real way: the simulator answers, a transport
rewrites the raw JSON bodies (names, descriptions, workshops, groups, states, alarms,
comments, programs, orders, jobs, references) before the client parses them, and the
dashboard's own syncs store what they read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from actions import services as actions
from cwork.client import CWorkClient
from dashboard.asgi import application
from kpis import views as kpi_views
from kpis.calendar import Calendars, previous_shift
from kpis.demo import create_simulator_calendars
from kpis.figures import sync_cwork_figures
from simulator import ManualClock, Simulator
from stations.catalogue import sync_catalogue
from stations.history import sync_history
from stations.jobs import run_job
from stations.live import poll_live
from stations.models import AlarmInterval, LiveStatus, Order, ProgramRun, State, Station, Top
from stations.orders import sync_orders
from tests.security.helpers import socket_headers
from tests.stations.helpers import other_state, writable_station

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
POISON = f"{SCRIPT}{BREAKOUT}javascript:alert(1)"
BAD_COLOR = "red;background:url(javascript:alert(1))"
#: JSON keys whose text CWork writes (matched without case, as the client does).
TEXT_KEYS = {
    "name",
    "description",
    "workshop",
    "dncgroup",
    "message",
    "code",
    "comment",
    "topcommentfield",
    "reference",
    "order",
    "job",
    "context",
    "runningprogram",
    "selectedprogram",
    "partreference",
    "client",
    "groupname",
}
LIST_KEYS = {"mdcgroups"}
SERVICE_KEY = "svc-" + "7f3a9c" * 6
USER_KEY = "usr-" + "b81e0d" * 6


def poison(text: str) -> str:
    """Starts with "=" (a spreadsheet formula) and carries every payload."""
    return f"={POISON} {text}"


def rewrite(value):
    if isinstance(value, list):
        return [rewrite(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        low = key.lower()
        if low == "color" and isinstance(item, str):
            out[key] = BAD_COLOR
        elif low in TEXT_KEYS and isinstance(item, str) and item:
            out[key] = poison(item)
        elif low in LIST_KEYS and isinstance(item, list):
            out[key] = [poison(v) if isinstance(v, str) and v else v for v in item]
        elif low in LIST_KEYS and isinstance(item, str) and item:
            out[key] = ",".join(poison(part) for part in item.split(","))
        else:
            out[key] = rewrite(item)
    return out


class PoisonTransport(httpx.BaseTransport):
    """Rewrites every JSON answer of the simulator, raw bytes in, raw bytes out."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = self.inner.handle_request(request)
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return response
        return httpx.Response(
            response.status_code,
            headers={"Content-Type": "application/json"},
            content=json.dumps(rewrite(body)).encode(),
        )


class World:
    """The simulated factory an hour ago, synced through the poisoning transport."""

    def __init__(self, *, poisoned: bool = True) -> None:
        self.clock = ManualClock(timezone.now().replace(microsecond=0) - timedelta(hours=1))
        self.sim = Simulator(
            stations=12,
            seed=7,
            clock=self.clock,
            history_days=2,
            api_keys=(SERVICE_KEY, f"{USER_KEY}=Olga@Operators"),
        )
        inner = self.sim.transport()
        self.transport = PoisonTransport(inner) if poisoned else inner

    def client(self, api_key: str | None = None) -> CWorkClient:
        return CWorkClient(
            "http://cwork-simulator",
            api_key or SERVICE_KEY,
            transport=self.transport,
            retries=0,
            server_version="1.16",
        )

    def fill(self) -> None:
        with self.client() as cwork:
            now = self.clock()
            sync_catalogue(cwork, now=now)
            workshops = sorted(set(Station.objects.values_list("workshop", flat=True)) - {""})
            create_simulator_calendars(workshops)
            sync_history(cwork, now=now, batch=100)
            poll_live(cwork, now=now)
            self.clock.advance(1800)
            poll_live(cwork, now=self.clock())
            sync_history(cwork, now=self.clock(), batch=100)
            sync_orders(cwork, now=self.clock())
            sync_cwork_figures(cwork, now=self.clock())

    def wire_actions(self, monkeypatch) -> None:
        monkeypatch.setattr(actions, "cwork_client", lambda api_key=None: self.client(api_key))
        monkeypatch.setattr(actions, "shared_cwork_client", self.client)

    def writable(self) -> Station:
        return Station.objects.get(cwork_id=writable_station(self.sim))

    def review_query(self) -> dict[str, str]:
        first = Station.objects.order_by("name", "pk").first()
        assert first is not None
        occ = previous_shift(Calendars().for_workshop(first.workshop), self.clock())
        if occ is None:
            return {"scope": "all", "period": "day", "date": self.clock().date().isoformat()}
        return {"scope": "all", "period": "shift", "date": occ.day.isoformat(), "shift": occ.name}


# --- what "escaped" means ----------------------------------------------------------------------

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
URL_ATTR = re.compile(
    r"""(?:href|src|action|formaction|xlink:href)\s*=\s*["']?\s*javascript:""", re.I
)
STYLE = re.compile(r"""style\s*=\s*("[^"]*"|'[^']*')""", re.I)
COLOR_PROP = re.compile(r"--(state|on-state|seg|on-seg|reason|swatch)\s*:\s*([^;]*)")
FILL = re.compile(r"""\bfill\s*=\s*["']([^"']*)["']""")
HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
#: The templates' own fallbacks (never from CWork).
DEFAULTS = {"#888"}


def assert_escaped(html: str, where: str, *, shown: bool = True) -> None:
    assert SCRIPT not in html, where
    assert "<img src=x" not in html, where
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", ""), where
    assert not URL_ATTR.search(html), where
    for match in STYLE.finditer(html):
        style = match.group(1)[1:-1]
        assert "javascript" not in style, (where, style)
        assert "url(" not in style, (where, style)
        for _name, value in COLOR_PROP.findall(style):
            assert HEX.match(value.strip()) or value.strip() in DEFAULTS, (where, style)
    for value in FILL.findall(html):
        assert HEX.match(value) or value in ("none", "currentColor"), (where, value)
    if shown:
        assert ESCAPED in html, f"{where}: the hostile text never reached the page"


def assert_no_formula(rows: list[list[str]], where: str) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                try:
                    float(cell)
                except ValueError:
                    pytest.fail(f"{where}: a formula cell {cell[:40]!r}")


def superuser_client(name: str = "root") -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(name, "", "x" * 12))
    return client


# --- the pages and exports ---------------------------------------------------------------------


@pytest.fixture
def world(monkeypatch) -> World:
    world = World()
    world.fill()
    world.wire_actions(monkeypatch)
    monkeypatch.setattr(kpi_views, "_now", world.clock)
    return world


@pytest.mark.django_db
def test_the_hostile_text_reached_the_database(world):
    assert Station.objects.filter(name__startswith=f"={POISON}").count() == 12
    assert Station.objects.filter(workshop__startswith=f"={POISON}").exists()
    assert State.objects.filter(name__startswith=f"={POISON}").exists()
    assert State.objects.exclude(color="").count() == 0  # a bad colour is dropped, not kept
    assert AlarmInterval.objects.filter(message__startswith=f"={POISON}").exists()
    assert AlarmInterval.objects.filter(code__startswith=f"={POISON}").exists()
    assert ProgramRun.objects.filter(name__startswith=f"={POISON}").exists()
    assert Top.objects.filter(comment__startswith=f"={POISON}").exists()
    assert Order.objects.filter(name__startswith=f"={POISON}").exists()
    assert LiveStatus.objects.filter(order__startswith=f"={POISON}").exists()


@pytest.mark.django_db
def test_pages_fragments_and_the_svg_escape_cwork_text(world):
    client = superuser_client()
    station = world.writable()
    target = other_state(world.sim, station.cwork_id)
    response = client.post(
        f"/stations/{station.pk}/actions/change_state/",
        {"state": target, "comment": POISON, "idempotency_key": uuid.uuid4().hex},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert_escaped(response.content.decode(), "action panel", shown=False)
    pages = {
        "wall": client.get("/wall/"),
        "wall snapshot": client.get("/wall/", headers={"HX-Request": "true"}),
        "wall filtered": client.get(
            "/wall/", {"workshop": station.workshop, "mdc_group": POISON, "dnc_group": BREAKOUT}
        ),
        "overview": client.get("/stations/"),
        "overview search": client.get("/stations/", {"q": POISON}),
        "overview fragment": client.get("/stations/", {"q": ""}, headers={"HX-Request": "true"}),
        "station": client.get(f"/stations/{station.pk}/"),
        "station fragment": client.get(f"/stations/{station.pk}/", headers={"HX-Request": "true"}),
        "audit": client.get("/audit/"),
        "review": client.get("/kpis/review/", world.review_query()),
        "review default": client.get("/kpis/review/"),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        body = response.content.decode()
        assert_escaped(body, where, shown=where not in ("overview search", "wall filtered"))
    review = pages["review"].content.decode()
    assert "<svg" in review  # the timeline and the Paretos were drawn, and scanned


@pytest.mark.django_db
def test_exports_neutralise_formulas(world):
    client = superuser_client()
    station = world.writable()
    target = other_state(world.sim, station.cwork_id)
    for comment in (POISON, '=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)"):
        client.post(
            f"/stations/{station.pk}/actions/change_state/",
            {"state": target, "comment": comment, "idempotency_key": uuid.uuid4().hex},
        )
    audit = client.get("/audit/export.csv")
    assert audit.status_code == 200
    rows = list(csv.reader(io.StringIO(audit.content.decode("utf-8-sig"))))
    assert len(rows) > 5
    assert_no_formula(rows, "audit csv")
    assert any(ESCAPED not in cell and SCRIPT in cell for row in rows for cell in row)

    query = world.review_query()
    review_csv = client.get("/kpis/review/export.csv", query)
    assert review_csv.status_code == 200
    rows = list(csv.reader(io.StringIO(review_csv.content.decode("utf-8-sig"))))
    assert any(POISON in cell for row in rows for cell in row)
    assert_no_formula(rows, "review csv")

    xlsx = client.get("/kpis/review/export.xlsx", query)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert any(POISON in text for text in texts)
    assert_no_formula([texts], "review xlsx")


@pytest.mark.django_db
def test_names_typed_by_staff_are_escaped_too(world):
    client = superuser_client()
    response = client.post("/screens/new/", {"name": POISON, "rotation_seconds": 20})
    assert response.status_code in (200, 303)
    assert_escaped(client.get("/screens/").content.decode(), "screens")


# --- the sockets -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_socket_frames_escape_cwork_text(monkeypatch):
    world = World()
    world.fill()
    station = world.writable()
    user = get_user_model().objects.create_user("viewer", "", "x" * 12)
    client = Client()
    client.force_login(user)
    headers = socket_headers(client)

    async def scenario():
        wall = WebsocketCommunicator(application, "/ws/wall/", headers=headers)
        page = WebsocketCommunicator(application, f"/ws/stations/{station.pk}/", headers=headers)
        assert (await wall.connect())[0]
        assert (await page.connect())[0]
        frames = [await wall.receive_from(timeout=5), await page.receive_from(timeout=5)]
        handle = station.cwork_id
        world.sim.world.change_state(handle, other_state(world.sim, handle), POISON)
        with world.client() as cwork:
            await database_sync_to_async(run_job)("live", client=cwork, now=world.clock())
        frames += [await wall.receive_from(timeout=5), await page.receive_from(timeout=5)]
        await wall.disconnect()
        await page.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    for index, frame in enumerate(frames):
        assert_escaped(frame, f"frame {index}")
