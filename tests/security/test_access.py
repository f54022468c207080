"""Who reaches what: every URL of the project, every role, kiosk screens, workshop limits,
CSRF on every POST, the sockets' Origin check and the production cookie flags.

The URL list is read from the resolver, so a view added without protection fails here until
it is classified below.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from accounts.models import Profile
from accounts.permissions import Action
from actions import services as actions
from alerts.models import AlertRule, Condition, Webhook
from audit.models import ActionAttempt
from dashboard.asgi import application
from screens.models import Screen
from screens.services import DEVICE_COOKIE, create_screen, enrol
from stations.models import Station
from tests.stations.test_actions import ALL, Factory, make_user

ROOT = Path(__file__).resolve().parents[2]

#: Reachable without logging in, by name (some may not exist yet: allowed when they do).
PUBLIC = {"login", "health", "healthz", "readyz", "metrics"}
#: Any logged-in user (what they see is still limited to their stations).
LOGGED_IN = {"home", "wall", "stations:overview", "stations:detail", "logout", "preferences"}
#: The enrolment link is its own authorisation (an unknown token is refused).
LINK = {"screens:enrol"}
#: Pages of the admin outside its namespace: staff only, others are sent to the admin login.
ADMIN = {"cwork-connection"}
#: The roles that may use a URL; every other role gets a 403.
ROLES = ("Viewer", "Operator", "Supervisor", "Manager", "Administrator")
BY_ROLE = {
    "stations:act": {"Operator", "Supervisor", "Administrator"},
    "kpis:review": {"Manager", "Administrator"},
    "kpis:export_csv": {"Manager", "Administrator"},
    "kpis:export_xlsx": {"Manager", "Administrator"},
    "audit:list": {"Supervisor", "Manager", "Administrator"},
    "audit:csv": {"Supervisor", "Manager", "Administrator"},
    # Alert rules and webhooks: ``accounts.manage_alerts``.
    **{
        f"alerts:{name}": {"Manager", "Administrator"}
        for name in (
            "rules",
            "rule_new",
            "rule",
            "rule_toggle",
            "rule_delete",
            "rule_test",
            "rule_history",
            "webhooks",
            "webhook_new",
            "webhook",
            "webhook_delete",
        )
    },
    # End-of-shift reports: one's own subscriptions need ``accounts.view_reviews`` (a report
    # is the workshop's review); everyone's, and re-sending, ``accounts.manage_alerts``.
    "reports:subscriptions": {"Manager", "Administrator"},
    "reports:everyone": {"Manager", "Administrator"},
    "reports:sent": {"Manager", "Administrator"},
    # Screens are managed by staff, which no role makes anyone.
    "screens:list": set(),
    "screens:create": set(),
    "screens:identify": set(),
    "screens:reload": set(),
    "screens:new_link": set(),
    "screens:revoke": set(),
    "screens:delete": set(),
}
#: What each action of ``stations:act`` needs, per role.
ACTION_ROLES = {
    Action.CHANGE_STATE: {"Operator", "Supervisor", "Administrator"},
    Action.REPLACE_STATE: {"Supervisor", "Administrator"},
    Action.FORCE_AUTO: {"Supervisor", "Administrator"},
    Action.RESET_PARTS: {"Supervisor", "Administrator"},
}


@dataclass(frozen=True)
class Route:
    name: str
    route: str

    @property
    def namespace(self) -> str:
        return self.name.split(":")[0] if ":" in self.name else ""


def routes() -> list[Route]:
    """Every URL pattern of the project except the admin's, with its full name and route."""
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                space = pattern.namespace or ""
                if space == "admin":
                    continue
                inner = f"{namespace}:{space}" if namespace and space else namespace or space
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                name = pattern.name or f"<unnamed {prefix}{pattern.pattern}>"
                full = f"{namespace}:{name}" if namespace else name
                found.append(Route(full, prefix + str(pattern.pattern)))

    walk(get_resolver().url_patterns, "", "")
    return found


ALL_ROUTES = routes()
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete(route: Route, ids: dict[str, int]) -> str:
    """A URL for ``route``, its parameters filled with real objects where it matters."""

    def value(match: re.Match) -> str:
        name = match.group(2)
        if name == "pk" and route.namespace == "alerts":
            # 0 (no such rule or webhook: a 404) where a test made none.
            return str(ids.get("webhooks" if "webhooks/" in route.route else "alerts", 0))
        if name == "pk" and route.namespace in ids:
            return str(ids[route.namespace])
        if name == "action":
            return Action.FORCE_AUTO.value
        if name == "token":
            return secrets.token_urlsafe(32)
        raise AssertionError(f"teach the access tests the parameter {name} of {route.name}")

    assert not route.route.startswith("^"), f"regex route {route.route}: fill it by hand"
    return "/" + CONVERTER.sub(value, route.route)


def test_every_url_is_classified():
    names = {r.name for r in ALL_ROUTES}
    assert {"wall", "stations:act", "kpis:review", "audit:csv", "screens:revoke"} <= names
    known = PUBLIC | LOGGED_IN | LINK | ADMIN | set(BY_ROLE)
    unknown = sorted(names - known)
    assert not unknown, f"classify these URLs in tests/security/test_access.py: {unknown}"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def factory(monkeypatch) -> Factory:
    factory = Factory()
    monkeypatch.setattr(actions, "cwork_client", lambda api_key=None: factory.client(api_key))
    monkeypatch.setattr(actions, "shared_cwork_client", factory.client)
    return factory


@pytest.fixture
def ids(factory) -> dict[str, int]:
    screen, _ = create_screen("Hall A", {}, 20, None)
    rule = AlertRule.objects.create(name="Breakdown", condition=Condition.NOT_REPORTING)
    hook = Webhook.objects.create(name="Chat", url="https://chat.example/hook", format="json")
    return {
        "stations": factory.writable().pk,
        "screens": screen.pk,
        "alerts": rule.pk,
        "webhooks": hook.pk,
    }


def user_in(role: str | None, name: str | None = None, **flags):
    user = get_user_model().objects.create_user(name or (role or "nobody").lower(), "", "x" * 12)
    if role:
        user.groups.add(Group.objects.get(name=role))
    for key, value in flags.items():
        setattr(user, key, value)
    user.save()
    return user


def follows_to_login(client: Client, response, hops: int = 4) -> bool:
    """A redirect chain that ends on the login page."""
    for _ in range(hops):
        if response.status_code not in (301, 302, 303, 307, 308):
            return False
        target = urlparse(response["Location"])
        if resolve(target.path).url_name == "login":
            return True
        response = client.get(response["Location"])
    return False


def refused(client: Client, response) -> bool:
    return 400 <= response.status_code < 500 or follows_to_login(client, response)


def protected_routes() -> list[Route]:
    return [r for r in ALL_ROUTES if r.name not in PUBLIC]


def nothing_changed(factory: Factory, screen_count: int = 1) -> None:
    assert factory.wire.requests == 0
    assert not ActionAttempt.objects.filter(outcome="ok").exists()
    assert Screen.objects.count() == screen_count
    assert not Screen.objects.exclude(revoked_at=None).exists()


# --- anonymous users and kiosk screens ---------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_users_reach_nothing_but_the_public_urls(client, factory, ids):
    for route in protected_routes():
        url = concrete(route, ids)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert refused(client, response), (method, url, response.status_code)
    nothing_changed(factory)


@pytest.mark.django_db
def test_public_urls_answer_and_never_write(client, factory, ids):
    for route in ALL_ROUTES:
        if route.name not in PUBLIC:
            continue
        response = client.get(concrete(route, ids))
        assert response.status_code < 500, route
    nothing_changed(factory)


@pytest.mark.django_db
def test_a_kiosk_screen_reaches_its_wall_and_nothing_else(client, factory, ids):
    _screen, token = create_screen("TV", {}, 20, None)
    _, secret = enrol(token)
    client.cookies[DEVICE_COOKIE] = secret
    wall = client.get("/wall/")
    assert wall.status_code == 200
    assert 'id="tile-' in wall.content.decode()
    for route in protected_routes():
        if route.name in ("wall", "home"):
            continue
        url = concrete(route, ids)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert refused(client, response), (method, url, response.status_code)
    assert client.cookies[DEVICE_COOKIE].value == secret
    nothing_changed(factory, screen_count=2)


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_what_it_may_not_use(client, factory, ids, role):
    client.force_login(user_in(role))
    for route in ALL_ROUTES:
        if route.name in ADMIN:
            for method in ("get", "post"):
                response = getattr(client, method)(concrete(route, {}))
                assert refused(client, response), (role, route, method)
            continue
        allowed = BY_ROLE.get(route.name)
        if allowed is None or role in allowed:
            continue
        url = concrete(route, ids)
        statuses = {m: getattr(client, m)(url).status_code for m in ("get", "post")}
        assert set(statuses.values()) <= {403, 405}, (role, url, statuses)
        assert 403 in statuses.values(), (role, url, statuses)
    for action, allowed in ACTION_ROLES.items():
        url = concrete(Route("stations:act", "stations/<int:pk>/actions/<str:action>/"), ids)
        url = url.replace(Action.FORCE_AUTO.value, action.value)
        response = client.post(url, {"state": 1, "part_count": 0, "idempotency_key": uuid.uuid4()})
        if role in allowed:
            assert response.status_code == 200, (role, action)
        else:
            assert response.status_code == 403, (role, action)
    if role == "Viewer" or role == "Manager":
        assert factory.wire.writes == []


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Supervisor", "Manager", "Administrator"])
def test_the_roles_that_may_read_get_their_pages(client, factory, ids, role):
    client.force_login(user_in(role))
    for route in ALL_ROUTES:
        if route.name in ADMIN:
            for method in ("get", "post"):
                response = getattr(client, method)(concrete(route, {}))
                assert refused(client, response), (role, route, method)
            continue
        allowed = BY_ROLE.get(route.name)
        if allowed and role in allowed and route.name != "stations:act":
            assert client.get(concrete(route, ids)).status_code == 200, (role, route)


@pytest.mark.django_db
def test_staff_who_are_not_superusers_manage_screens_only(client, factory, ids):
    client.force_login(user_in(None, "foreman", is_staff=True))
    assert client.get("/screens/").status_code == 200
    assert client.get("/audit/").status_code == 403
    assert client.get("/kpis/review/").status_code == 403


# --- workshop limits ---------------------------------------------------------------------------


def _limited(factory: Factory):
    inside = factory.writable()
    outside = Station.objects.exclude(workshop=inside.workshop).exclude(workshop="").first()
    user = make_user("limited", *ALL)
    Profile.objects.create(user=user, workshops=[inside.workshop])
    return user, inside, outside


@pytest.mark.django_db
def test_other_workshops_pages_are_404_and_their_actions_reach_nothing(client, factory):
    user, inside, outside = _limited(factory)
    client.force_login(user)
    assert client.get(f"/stations/{inside.pk}/").status_code == 200
    assert client.get(f"/stations/{outside.pk}/").status_code == 404
    # The open page's refresh, once a limit hides its station: refused, as its actions are.
    refresh = client.get(f"/stations/{outside.pk}/", headers={"HX-Request": "true"})
    assert (refresh.status_code, refresh["X-Refusal"]) == (403, "forbidden")
    overview = client.get("/stations/").content.decode()
    assert f'id="row-{outside.pk}"' not in overview
    assert f'id="tile-{outside.pk}"' not in client.get("/wall/").content.decode()
    attempts: list[tuple[str, dict[str, object]]] = [
        ("change_state", {"state": 1, "comment": "x"}),
        ("replace_state", {"state": 1}),
        ("force_auto", {}),
        ("reset_parts", {"part_count": 0}),
    ]
    for action, values in attempts:
        response = client.post(
            f"/stations/{outside.pk}/actions/{action}/",
            {**values, "idempotency_key": uuid.uuid4().hex},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 403, action
    assert factory.wire.requests == 0
    assert not ActionAttempt.objects.exclude(outcome="forbidden").exists()


# --- sockets -----------------------------------------------------------------------------------


def _session(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _connect(path: str, cookie: bytes, origin: bytes | None = b"http://localhost"):
    headers = [(b"host", b"localhost"), (b"cookie", cookie)]
    if origin is not None:
        headers.append((b"origin", origin))

    async def attempt():
        ws = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await ws.connect(timeout=5)
        if connected:
            await ws.receive_from(timeout=5)
            await ws.disconnect()
        return connected, code

    return async_to_sync(attempt)()


@pytest.mark.django_db(transaction=True)
def test_sockets_check_origin_limits_and_kiosk_screens(factory):
    user, inside, outside = _limited(factory)
    cookie = _session(user)
    for path in ("/ws/wall/", f"/ws/stations/{inside.pk}/"):
        assert _connect(path, cookie)[0] is True, path
        for origin in (b"https://evil.example", b"http://localhost.evil.example", b"null", None):
            assert _connect(path, cookie, origin)[0] is False, (path, origin)
    assert _connect(f"/ws/stations/{outside.pk}/", cookie) == (False, 4403)
    # A kiosk screen has its wall's socket, never a station's.
    _, token = create_screen("TV", {}, 20, None)
    _, secret = enrol(token)
    kiosk = f"{DEVICE_COOKIE}={secret}".encode()
    assert _connect("/ws/wall/", kiosk)[0] is True
    assert _connect(f"/ws/stations/{inside.pk}/", kiosk) == (False, 4403)
    assert _connect("/ws/wall/", kiosk, b"https://evil.example")[0] is False


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_post_without_a_csrf_token_is_refused(factory, ids):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.create_superuser("root", "", "x" * 12))
    # A browser has the cookie (a page with a form set it): only the token is missing.
    assert strict.get(f"/stations/{ids['stations']}/").status_code == 200
    token = strict.cookies["csrftoken"].value
    for route in ALL_ROUTES:
        url = concrete(route, ids)
        response = strict.post(url, {"name": "Evil", "rotation_seconds": 20, "part_count": 0})
        assert response.status_code == 403, url
        assert b"CSRF" in response.content, url
    for url in ("/admin/login/", "/admin/logout/", "/admin/auth/user/add/"):
        assert strict.post(url, {"username": "x"}).status_code == 403
    nothing_changed(factory)
    assert "_auth_user_id" in strict.session  # the logout was refused too
    # The same client with the token does get through (the 403s above are CSRF's).
    assert strict.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302


# --- production cookies ------------------------------------------------------------------------


def test_production_cookies_are_secure_http_only_and_same_site(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": "postgres://x@y/z",
        "SECRET_KEY": secrets.token_urlsafe(50)[:50],
        "ALLOWED_HOSTS": "wall.example",
        "CWORK_URL": "https://cwork.example",
        "CWORK_API_KEY": "k",
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in ("
        "'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', "
        "'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_SAMESITE', 'SECURE_SSL_REDIRECT', 'DEBUG')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    flags = json.loads(result.stdout.strip().splitlines()[-1])
    assert flags == {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True,
        "DEBUG": False,
    }


@pytest.mark.django_db
def test_the_cookies_a_login_sets_carry_those_flags(client, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    get_user_model().objects.create_user("alice", "", "correct horse battery")
    client.get("/login/")
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    csrf = response.cookies.get("csrftoken") or client.cookies["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"
