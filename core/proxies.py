"""The client's address, and whether it came over HTTPS, behind the proxies in ``TRUSTED_PROXIES``.

Behind a reverse proxy every connection comes from the proxy: the client is in the
``X-Forwarded-For`` the proxy adds, and its scheme in ``X-Forwarded-Proto``. Both headers are
believed only when the direct peer is a trusted proxy; anyone else could write them. The
client is the right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy
(each proxy appends the address it was reached from, so what lies left of that was written by
the client and proves nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The headers a trusted proxy sets, dropped from any other peer's requests.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO")


def parse_address(value: str) -> Address | None:
    """An IP address as a proxy or a server writes it (``10.0.0.1``, ``::ffff:10.0.0.1``,
    ``[2001:db8::1]``, with or without a port after it), or None."""
    value = value.strip()
    if value.startswith("["):  # [v6] or [v6]:port
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # v4:port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:  # a dual-stack socket's IPv4 peer
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def forwarded_client(peer: str, forwarded_for: str) -> str:
    """The client's address from the direct peer's and the ``X-Forwarded-For`` it sent (for a
    WebSocket: ``scope["client"][0]`` and the header from ``scope["headers"]``)."""
    address = parse_address(peer)
    if address is None:
        return peer.strip()
    if not is_trusted_proxy(address):
        return str(address)
    # Several X-Forwarded-For lines arrive joined with commas, in order.
    for hop in reversed(forwarded_for.split(",")):
        previous = parse_address(hop)
        if previous is None:  # not an address: the last trusted proxy is all that is known
            break
        address = previous
        if not is_trusted_proxy(address):
            break
    return str(address)


def client_address(request: HttpRequest) -> str:
    """The address of the client that made the request, for everything that goes by it (the
    login limit, the metrics' allow-list); "" when unknown. Never read ``REMOTE_ADDR`` instead:
    behind a proxy it is the proxy's."""
    return forwarded_client(
        request.META.get("REMOTE_ADDR") or "", request.META.get("HTTP_X_FORWARDED_FOR") or ""
    )


def trusted_peer(request: HttpRequest) -> bool:
    address = parse_address(request.META.get("REMOTE_ADDR") or "")
    return address is not None and is_trusted_proxy(address)


class ProxyHeadersMiddleware:
    """Drops ``X-Forwarded-For`` and ``X-Forwarded-Proto`` unless a trusted proxy sent them, so
    ``request.is_secure()`` (``SECURE_PROXY_SSL_HEADER``) believes only the proxy. First in the
    chain: the HTTPS redirect and everything after it see the cleaned request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not trusted_peer(request):
            for header in PROXY_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
