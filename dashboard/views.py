from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from core.htmx import HtmxHttpRequest
from dashboard import metrics, wall
from dashboard.access import wall_grant_for_request
from screens.services import DEVICE_COOKIE
from stations.health import ingest_health, stale_after
from stations.models import PollRecord, SyncKind

logger = logging.getLogger(__name__)


@require_GET
@never_cache
def wall_page(request: HtmxHttpRequest) -> HttpResponse:
    """The wall, for a logged-in user or an enrolled kiosk screen.

    Its socket keeps it current; a browser without WebSockets asks again with HTMX and gets
    the same snapshot a socket gets on connect.
    """
    grant = wall_grant_for_request(request)
    if grant is None:
        if DEVICE_COOKIE in request.COOKIES:
            # A kiosk screen revoked (or enrolled again elsewhere): a TV has nobody to log in.
            return render(request, "screens/not_enrolled.html", status=403)
        return redirect_to_login(request.get_full_path())
    if request.htmx:
        return HttpResponse("".join(wall.render_snapshot(grant.filter, kiosk=grant.kiosk)))
    now = timezone.now()
    health = ingest_health(now)
    context = {
        "grant": grant,
        "tiles": wall.wall_tiles(grant.filter, now),
        "kiosk": grant.kiosk,
        "live_as_of": health.live_as_of,
        "stale": health.stale,
        "client": wall.client_settings(grant.rotation),
        "ws_path": "/ws/wall/" + (f"?{grant.filter.query()}" if grant.filter.query() else ""),
        "choices": wall.distinct_choices(grant.stations) if grant.screen_id is None else None,
    }
    return render(request, "wall/wall.html", context)


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and container health checks: is the data flowing?

    Answers 200 while the process serves; ``?fresh`` makes stale live data a 503.
    """
    report = ingest_health()
    body = {
        "status": "stale" if report.stale else "ok",
        "live_as_of": report.live_as_of.isoformat() if report.live_as_of else None,
        "jobs": {
            kind: {
                "last_success": k.last_success.isoformat() if k.last_success else None,
                "last_attempt": k.last_attempt.isoformat() if k.last_attempt else None,
                "failures": k.failures,
                "last_error": k.last_error,
                "unavailable": k.unavailable,
            }
            for kind, k in report.kinds.items()
        },
    }
    status = 503 if report.stale and "fresh" in request.GET else 200
    return JsonResponse(body, status=status)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No database, no Redis, no CWork."""
    return HttpResponse("ok", content_type="text/plain")


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers, Redis too when configured, and the live data is fresh.

    200 when every check passes, else 503 with ``failed`` naming the checks that did not.
    """
    checks = {"database": _check_database(), "redis": _check_redis()}
    checks["live"] = (
        _check_live()
        if checks["database"]["ok"]
        else {"ok": False, "detail": "not checked: the database is unreachable"}
    )
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "not ready" if failed else "ready", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)


def _failure(check: str, exc: Exception) -> dict:
    logger.warning("readiness: %s check failed: %s: %s", check, type(exc).__name__, exc)
    return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}


def _check_database() -> dict:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # whatever the driver raises, it is "not ready"
        return _failure("database", exc)
    return {"ok": True}


def _check_redis() -> dict:
    """Through the cache, which is Redis whenever REDIS_URL is set (as the channel layer)."""
    if not settings.REDIS_URL:
        return {"ok": True, "detail": "not configured"}
    key, value = "readyz", secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=10)
        if cache.get(key) != value:
            return {"ok": False, "detail": "Redis did not return what was just written"}
    except Exception as exc:  # connection refused, timeout, authentication...
        return _failure("redis", exc)
    return {"ok": True}


def _check_live() -> dict:
    limit = stale_after().total_seconds()
    try:
        last = (
            PollRecord.objects.filter(kind=SyncKind.LIVE, ok=True)
            .order_by("-started_at")
            .values_list("started_at", "duration")
            .first()
        )
    except Exception as exc:
        return _failure("live", exc)
    if last is None:
        return {"ok": False, "detail": "no successful live poll yet", "limit": limit}
    finished = last[0] + timedelta(seconds=last[1])
    age = max(0.0, (timezone.now() - finished).total_seconds())
    check: dict[str, object] = {"ok": age <= limit, "age": round(age, 3), "limit": limit}
    if not check["ok"]:
        check["detail"] = f"the last successful live poll is {age:.0f} s old (limit {limit:g} s)"
    return check


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for METRICS_ALLOWED addresses or the METRICS_TOKEN bearer."""
    if not metrics.may_scrape(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
