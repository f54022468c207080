"""The shift review page and its CSV and Excel exports."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.permissions import visible_stations
from kpis import exports
from kpis.calendar import Calendars
from kpis.forms import ALL, ReviewForm, default_data
from kpis.review import COLUMNS, build_review, tolerance


def _now() -> datetime:
    return timezone.now()


def _form(request: HttpRequest, now: datetime) -> tuple[ReviewForm, Calendars]:
    calendars = Calendars()
    stations = list(visible_stations(request.user).order_by("name", "pk"))
    chosen = {key: value for key, value in request.GET.dict().items() if value != ""}
    # Nothing chosen: one workshop's last shift; a choice that names no stations: all of them.
    scope = chosen.get("scope") or (ALL if chosen else None)
    data = {**default_data(stations, calendars, now, scope=scope), **chosen}
    form = ReviewForm(data, stations=stations, calendars=calendars)
    return form, calendars


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_reviews", raise_exception=True)
def review_page(request: HttpRequest) -> HttpResponse:
    now = _now()
    form, calendars = _form(request, now)
    review = None
    if form.is_valid() and form.chosen_period is not None:
        review = build_review(form.stations, form.chosen_period, now=now, calendars=calendars)
    query = request.GET.urlencode() or ""
    if review is not None and not query:
        query = _query(form)
    return render(
        request,
        "kpis/review.html",
        {
            "form": form,
            "review": review,
            "columns": COLUMNS,
            "tolerance": tolerance(),
            "query": query,
            "scope_label": form.scope_label() if review else "",
        },
    )


def _query(form: ReviewForm) -> str:
    from django.http import QueryDict

    out = QueryDict(mutable=True)
    for name, value in form.data.items():
        if value:
            out[name] = value
    return out.urlencode()


def _export(request: HttpRequest, extension: str) -> HttpResponse:
    now = _now()
    form, calendars = _form(request, now)
    if not form.is_valid() or form.chosen_period is None:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    review = build_review(
        form.stations, form.chosen_period, now=now, calendars=calendars, full=False
    )
    name = exports.filename(form.scope_slug(), form.chosen_period.slug, extension)
    if extension == "csv":
        return exports.csv_response(review, name=name)
    title = f"{form.scope_label()} · {form.chosen_period.label}"
    return exports.xlsx_response(review, name=name, title=title)


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_reviews", raise_exception=True)
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_reviews", raise_exception=True)
def export_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, "xlsx")
