"""The admin's "CWork connection" page: how the ingest talks to CWork, and a diagnosis.

Staff only (``admin.site.admin_view`` in the URLs). Everything shown is read from the
settings and the database, so the page renders whether CWork answers or not; the
``check_cwork`` diagnostics run only on request, in a thread given a fixed time.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from stations import connection
from stations.diagnostics import Check, Status, Target, run_checks
from stations.health import ingest_health
from stations.models import PollRecord, SyncState

logger = logging.getLogger(__name__)

#: Seconds the page waits for the diagnostics before answering without them.
DIAGNOSTICS_TIMEOUT = 20.0
#: Each CWork request of the diagnosis gets at most this (the command line waits longer).
DIAGNOSTICS_REQUEST_TIMEOUT = 5.0
RECENT_RECORDS = 50


def tls_mode() -> str:
    if urlsplit(settings.CWORK_URL).scheme != "https":
        return _("plain HTTP (no TLS)")
    if settings.CWORK_FINGERPRINT:
        return _("certificate pinned (SHA-256 fingerprint)")
    if not settings.CWORK_VERIFY_TLS:
        return _("TLS, certificate NOT verified (CWORK_VERIFY_TLS=false)")
    if settings.CWORK_CA_FILE:
        return _("TLS, verified against %(file)s") % {"file": settings.CWORK_CA_FILE}
    return _("TLS, verified against the system's CAs")


def api_version() -> str:
    if settings.CWORK_API_VERSION:
        return _("%(version)s (set by CWORK_API_VERSION)") % {"version": settings.CWORK_API_VERSION}
    shared = connection._shared
    known = shared.known_server_version if shared is not None else None
    if known is not None:
        return str(known)
    return _("detected by the worker, not yet in this process: run the diagnostics")


def diagnose(timeout: float = DIAGNOSTICS_TIMEOUT) -> tuple[list[Check], str]:
    """``check_cwork``'s checks, or why there are none, within ``timeout`` seconds."""
    target = Target.from_settings()
    target = dataclasses.replace(target, timeout=min(target.timeout, DIAGNOSTICS_REQUEST_TIMEOUT))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="check_cwork")
    future = executor.submit(run_checks, target)
    try:
        return future.result(timeout=timeout), ""
    except FutureTimeout:
        return [], _(
            "The checks did not finish within %(seconds)g s: CWork is slow or unreachable. "
            "Run python manage.py check_cwork on the server for the full diagnosis."
        ) % {"seconds": timeout}
    except Exception as exc:  # a diagnosis must never take the page down
        logger.exception("the CWork diagnostics failed")
        return [], _("The checks could not run: %(error)s") % {
            "error": f"{type(exc).__name__}: {exc}"
        }
    finally:
        executor.shutdown(wait=False)


@never_cache
@require_http_methods(["GET", "POST"])
def cwork_connection(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    health = ingest_health(now)
    states = {s.kind: s for s in SyncState.objects.all()}
    kinds = [
        {
            "kind": kind,
            "health": h,
            "age": (now - h.last_success).total_seconds() if h.last_success else None,
            "retry_at": states[kind].retry_at if kind in states else None,
        }
        for kind, h in health.kinds.items()
    ]
    checks: list[Check] = []
    checks_error, ran = "", False
    if request.method == "POST":
        checks, checks_error = diagnose()
        ran = True
    context = {
        **admin.site.each_context(request),
        "title": _("CWork connection"),
        "cwork_url": settings.CWORK_URL,
        "api_version": api_version(),
        "tls_mode": tls_mode(),
        "timeout": settings.CWORK_TIMEOUT,
        "kinds": kinds,
        "stale": health.stale,
        "records": PollRecord.objects.order_by("-started_at", "-pk")[:RECENT_RECORDS],
        "ran": ran,
        "checks": checks,
        "checks_error": checks_error,
        "failed": Status.FAILED,
        "warning": Status.WARNING,
    }
    return render(request, "admin/cwork_connection.html", context)
