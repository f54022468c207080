from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from stations.health import ingest_health
from stations.selectors import station_board


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The station board; HTMX asks for the grid alone every poll interval."""
    template = "dashboard/_board.html" if request.htmx else "dashboard/home.html"
    context = {"board": station_board(), "refresh_seconds": max(1, round(settings.POLL_INTERVAL))}
    return render(request, template, context)


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
            kind.value: {
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
