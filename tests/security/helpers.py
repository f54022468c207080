"""Small helpers shared by the security tests."""

from __future__ import annotations


def socket_headers(client) -> list[tuple[bytes, bytes]]:
    """A browser's WebSocket handshake headers for the user logged in on ``client``."""
    return [
        (b"host", b"localhost"),
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
