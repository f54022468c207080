"""X-Forwarded-For and X-Forwarded-Proto are believed from the proxies in TRUSTED_PROXIES only.

The real nginx in front of a real daphne is in tests/e2e/test_reverse_proxy.py.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import reverse

from core.proxies import client_address, forwarded_client, parse_address
from dashboard.env import Env
from tests.dashboard.test_settings import ROOT, clean_environment, start

PROXY = "10.0.0.5"
PRODUCTION = {
    "SECRET_KEY": "k" * 40,
    "ALLOWED_HOSTS": "wall.example",
    "CWORK_URL": "https://cwork.example",
    "CWORK_API_KEY": "k",
}


def networks(*items: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item) for item in items]


@pytest.fixture
def behind_proxy(settings):
    """The proxy at 10.0.0.5 (and a second one on the inside, 192.168.0.0/24) is trusted."""
    settings.TRUSTED_PROXIES = networks(f"{PROXY}/32", "192.168.0.0/24")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_with_no_trusted_proxy_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert forwarded_client("10.0.0.5", "203.0.113.7") == "10.0.0.5"
    assert forwarded_client("::ffff:10.0.0.5", "") == "10.0.0.5"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # The proxy's own addition is the client.
        (PROXY, "203.0.113.7", "203.0.113.7"),
        # What the client wrote itself, left of that, proves nothing.
        (PROXY, "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        # Through two trusted proxies: the right-most address that is not one of them.
        (PROXY, "198.51.100.1, 203.0.113.7, 192.168.0.9", "203.0.113.7"),
        # A client that forges a trusted proxy's address gets past only the ones it forged.
        (PROXY, "203.0.113.7, 192.168.0.9", "203.0.113.7"),
        # Several header lines arrive joined; spaces, ports and brackets are a proxy's way.
        (PROXY, "203.0.113.7:5123", "203.0.113.7"),
        (PROXY, "[2001:db8::7]:5123", "2001:db8::7"),
        (f"::ffff:{PROXY}", "203.0.113.7", "203.0.113.7"),
        # Nothing forwarded: the proxy's own request.
        (PROXY, "", PROXY),
        # Only trusted proxies: the left-most of them.
        (PROXY, "192.168.0.3, 192.168.0.9", "192.168.0.3"),
        # Not an address: the last trusted proxy is all that is known.
        (PROXY, "unknown", PROXY),
        (PROXY, "203.0.113.7, unknown, 192.168.0.9", "192.168.0.9"),
        # Not a trusted peer: its header is not believed, whatever it says.
        ("203.0.113.99", "192.168.0.9", "203.0.113.99"),
    ],
)
def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy(
    behind_proxy, peer, forwarded_for, client
):
    assert forwarded_client(peer, forwarded_for) == client


def test_addresses_as_servers_write_them():
    assert str(parse_address(" 10.1.2.3 ")) == "10.1.2.3"
    assert str(parse_address("10.1.2.3:80")) == "10.1.2.3"
    assert str(parse_address("::ffff:10.1.2.3")) == "10.1.2.3"
    assert str(parse_address("[::1]")) == "::1"
    assert parse_address("") is None
    assert parse_address("unix:/run/daphne.sock") is None


def test_a_request_s_client_address(behind_proxy):
    factory = RequestFactory()
    forwarded = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(forwarded) == "203.0.113.7"
    forged = factory.get("/", REMOTE_ADDR="203.0.113.99", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(forged) == "203.0.113.99"
    assert client_address(factory.get("/", REMOTE_ADDR="")) == ""


def failed_login(client, username: str, peer: str, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(reverse("login"), {"username": username, "password": "guess"}, **extra)


@pytest.mark.django_db
def test_behind_a_trusted_proxy_one_client_is_locked_out_not_the_plant(client, behind_proxy):
    behind_proxy.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ("a", "b", "c"):
        assert failed_login(client, name, PROXY, "203.0.113.7").status_code == 200
    assert failed_login(client, "d", PROXY, "203.0.113.7").status_code == 429
    # Another client through the same proxy, and the proxy itself, may still try.
    assert failed_login(client, "d", PROXY, "203.0.113.8").status_code == 200
    assert failed_login(client, "d", PROXY).status_code == 200


@pytest.mark.django_db
def test_a_forged_header_from_an_untrusted_peer_does_not_dodge_the_limit(client, behind_proxy):
    behind_proxy.LOGIN_FAILURES_PER_ADDRESS = 3
    for n, name in enumerate(("a", "b", "c")):
        assert failed_login(client, name, "203.0.113.99", f"198.51.100.{n}").status_code == 200
    assert failed_login(client, "d", "203.0.113.99", "198.51.100.77").status_code == 429


@pytest.mark.django_db
def test_https_is_believed_from_a_trusted_proxy_only(client, behind_proxy):
    behind_proxy.SECURE_SSL_REDIRECT = True
    https = {"HTTP_X_FORWARDED_PROTO": "https"}
    assert client.get("/login/", REMOTE_ADDR=PROXY, **https).status_code == 200
    assert client.get("/login/", REMOTE_ADDR="203.0.113.99", **https).status_code == 301
    assert client.get("/login/", REMOTE_ADDR=PROXY).status_code == 301


@pytest.mark.django_db
def test_the_metrics_allow_list_goes_by_the_client_behind_the_proxy(client, behind_proxy):
    behind_proxy.METRICS_ALLOWED = networks("10.0.0.0/8")
    # Through the proxy (itself inside the allowed network), an outside client is refused...
    outside = client.get("/metrics", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert outside.status_code == 403
    # ... and Prometheus, inside, is let in, through the proxy or not.
    inside = client.get("/metrics", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert inside.status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9").status_code == 200


def proxy_settings(tmp_path, **environ: str) -> str:
    """TRUSTED_PROXIES and SECURE_PROXY_SSL_HEADER as a fresh process reads them."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.TRUSTED_PROXIES, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean_environment(tmp_path), **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_no_proxy_is_trusted_unless_one_is_named(tmp_path):
    assert proxy_settings(tmp_path) == "[] None"
    assert proxy_settings(tmp_path, DATABASE_URL="sqlite:///x", **PRODUCTION) == "[] None"
    assert proxy_settings(tmp_path, TRUSTED_PROXIES="10.0.0.5, fd00::/8") == (
        "[IPv4Network('10.0.0.5/32'), IPv6Network('fd00::/8')] ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_a_malformed_trusted_proxy_names_the_variable(tmp_path):
    result = start(tmp_path, TRUSTED_PROXIES="10.0.0.5,nginx")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES='nginx' is not valid" in result.stderr
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        Env({"TRUSTED_PROXIES": "10.0.0.0/33"}).networks("TRUSTED_PROXIES", [])
