from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard import wall
from dashboard.access import wall_grant_for_request
from stations.health import ingest_health


@require_GET
@never_cache
def wall_page(request: HttpRequest) -> HttpResponse:
    """The wall, for a logged-in user or an enrolled kiosk screen.

    Its socket keeps it current; a browser without WebSockets asks again with HTMX and gets
    the same snapshot a socket gets on connect.
    """
    grant = wall_grant_for_request(request)
    if grant is None:
        return redirect_to_login(request.get_full_path())
    if request.htmx:
        return HttpResponse(wall.render_snapshot(grant.filter))
    now = timezone.now()
    health = ingest_health(now)
    context = {
        "grant": grant,
        "tiles": wall.wall_tiles(grant.filter, now),
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
