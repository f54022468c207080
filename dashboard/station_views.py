"""Station pages for supervisors: the overview of every station, one station's day, and the
answer to an action sent from its panel.

Logged-in users only (kiosk screens have the wall). Each view serves its full page, or to
HTMX the part of it that refreshes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import visible_stations
from actions.views import perform_posted
from alerts.selectors import station_alerts
from core.htmx import HtmxHttpRequest
from dashboard.overview import station_overview
from dashboard.station_page import station_detail
from kpis.current import figures_for, previous_shift_review, review_url
from stations.health import ingest_health, stale_after
from stations.models import Station

#: The longest search a user can type; anything longer is cut (never an error).
QUERY_MAX_LENGTH = 200

#: Seconds between refreshes of the overview list and of the station page's day.
OVERVIEW_REFRESH_SECONDS = 10
DAY_REFRESH_SECONDS = 30


def _fragment_requested(request: HtmxHttpRequest) -> bool:
    """An HTMX request for the part, not a history restore (which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
@never_cache
@login_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """Every station, the most urgent first; ``?q=`` searches."""
    query = request.GET.get("q", "").strip()[:QUERY_MAX_LENGTH]
    now = timezone.now()
    context = {
        "rows": station_overview(query, now, visible_stations(request.user)),
        "query": query,
        "now": now,
        "refresh_seconds": max(OVERVIEW_REFRESH_SECONDS, round(settings.POLL_INTERVAL)),
    }
    fragment = _fragment_requested(request)
    template = "stations/_overview_rows.html" if fragment else "stations/overview.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def station_page_context(station: Station, **extra: Any) -> dict[str, Any]:
    """What the station page renders from, for its own view and the actions' answers."""
    now = timezone.now()
    day = station_detail(station, now)
    shift = figures_for(day.station, now)
    previous_label, previous_url = previous_shift_review(day.station, now)
    health = ingest_health(now)
    return {
        "live_as_of": health.live_as_of,
        "stale": health.stale,
        "stale_after": stale_after().total_seconds(),
        "shift": shift,
        "shift_review_url": review_url(shift) if shift else "",
        "previous_shift_label": previous_label,
        "previous_shift_url": previous_url,
        "day": day,
        "station": day.station,
        "tile": day.tile,
        "now": now,
        "refresh_seconds": DAY_REFRESH_SECONDS,
        **extra,
    }


@require_GET
@never_cache
@login_required
def detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One station today; HTMX refreshes the day (with the live part out of band).

    A station the user may not see is not found; but when the open page's refresh asks for
    it, the user's limit changed meanwhile: 403, which the page shows as "no longer allowed"
    (the actions' answer already tells a hidden station from a missing one)."""
    visible = visible_stations(request.user)
    fragment = _fragment_requested(request)
    if fragment and not visible.filter(pk=pk).exists() and Station.objects.filter(pk=pk).exists():
        raise PermissionDenied
    station = get_object_or_404(visible, pk=pk)
    context = station_page_context(station)
    if fragment:
        template = "stations/_station_day.html"
    else:
        template = "stations/detail.html"
        context["alerts"] = station_alerts(station, context["now"])
    response = render(request, template, {**context, "oob": fragment})
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_POST
@never_cache
def act(request: HtmxHttpRequest, pk: int, action: str) -> HttpResponse:
    """Send one action for one station (``actions.views.perform_posted``): HTMX gets
    the panel with the result, a browser without JavaScript the whole station page."""
    station, panel = perform_posted(request, pk, action)
    if request.htmx:
        response = render(request, "stations/_actions.html", {"panel": panel})
    else:
        context = station_page_context(station, oob=False, panel=panel)
        response = render(request, "stations/detail.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
