"""The one place that turns settings into a CWork client."""

from __future__ import annotations

import threading

from django.conf import settings

from cwork.client import CWorkClient, Timeouts
from cwork.versions import ApiVersion


def cwork_client(*, api_key: str | None = None) -> CWorkClient:
    """A client for the configured CWork, with the service key unless another is given."""
    timeout = settings.CWORK_TIMEOUT
    return CWorkClient(
        settings.CWORK_URL,
        api_key or settings.CWORK_API_KEY,
        server_version=_known_version(),
        verify=settings.CWORK_VERIFY_TLS,
        ca_file=settings.CWORK_CA_FILE,
        fingerprint=settings.CWORK_FINGERPRINT,
        timeouts=Timeouts(connect=min(5.0, timeout), read=timeout, deadline=3 * timeout),
    )


_shared: CWorkClient | None = None
_creating = threading.Lock()


def _known_version() -> ApiVersion | None:
    """The configured version, else the one this process already detected: a client made
    for one user's action then asks CWork nothing but the action itself."""
    if settings.CWORK_API_VERSION:
        return ApiVersion.parse(settings.CWORK_API_VERSION)
    return _shared.known_server_version if _shared is not None else None


def shared_cwork_client() -> CWorkClient:
    """One client per process, so the server's version is detected once, not every poll."""
    global _shared
    with _creating:  # the scheduler's threads start together: one client between them
        if _shared is None:
            _shared = cwork_client()
    return _shared
