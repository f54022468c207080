"""The end-of-shift reports page: one's own subscriptions, and for those who manage alerts,
everyone's subscriptions per workshop and the recent reports with a re-send button.

Thin views over :mod:`alerts.reports`; a refused choice re-shows the page with the error and
the boxes as they were ticked, so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from alerts.models import ReportSubscription, ShiftReport
from alerts.reports import (
    MANAGE_PERMISSION,
    MAX_ID,
    REVIEW_PERMISSION,
    ReportUnavailable,
    SubscriptionError,
    all_workshops,
    readers_by_workshop,
    recent_reports,
    resend_report,
    set_subscriptions,
    set_workshop_subscribers,
    subscribed_workshops,
    workshops_for,
)
from kpis.calendar import Calendars


def _page(
    request: HttpRequest,
    *,
    status: int = 200,
    mine: set[str] | None = None,
    edited: tuple[str, set[int]] | None = None,
    error: str = "",
) -> HttpResponse:
    """The whole page; ``mine`` and ``edited`` keep a refused form's ticks as they were."""
    user = request.user
    assert user.is_authenticated  # every view of the page is login_required
    calendars = Calendars()
    chosen = subscribed_workshops(user) if mine is None else mine
    context: dict[str, Any] = {
        "mine": [
            {
                "name": name,
                "checked": name in chosen,
                "has_shifts": calendars.for_workshop(name).configured,
            }
            for name in workshops_for(user)
        ],
        "has_email": bool(user.email),
        "manager": user.has_perm(MANAGE_PERMISSION),
        "error": error,
    }
    if context["manager"]:
        context["workshops"] = _everyone(calendars, edited)
        context["reports"] = recent_reports()
    return render(request, "alerts/reports.html", context, status=status)


def _everyone(calendars: Calendars, edited: tuple[str, set[int]] | None) -> list[dict]:
    readers = readers_by_workshop()
    subscribers: dict[str, set[int]] = {}
    for workshop, user_id in ReportSubscription.objects.values_list("workshop", "user_id"):
        subscribers.setdefault(workshop, set()).add(user_id)
    out = []
    for workshop in all_workshops():
        ticked = subscribers.get(workshop, set())
        if edited is not None and edited[0] == workshop:
            ticked = edited[1]
        eligible = readers.get(workshop, [])
        eligible_ids = {u.pk for u in eligible}
        users = [{"user": u, "checked": u.pk in ticked, "allowed": True} for u in eligible]
        # Subscribed users who may no longer read the report: shown, so they can be removed.
        others = ReportSubscription.objects.filter(workshop=workshop).exclude(
            user_id__in=eligible_ids
        )
        users += [
            {"user": s.user, "checked": s.user_id in ticked, "allowed": False}
            for s in others.select_related("user")
        ]
        out.append(
            {
                "name": workshop,
                "users": users,
                "has_shifts": calendars.for_workshop(workshop).configured,
            }
        )
    return out


def _id(text: str) -> int | None:
    """A posted id, or None for anything that cannot be one."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 < value < MAX_ID else None


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
def subscriptions(request: HttpRequest) -> HttpResponse:
    """GET: the page; POST: the workshops whose reports the user receives."""
    if request.method == "GET":
        return _page(request)
    chosen = request.POST.getlist("workshop")
    try:
        set_subscriptions(request.user, chosen)
    except SubscriptionError as error:
        return _page(request, status=400, mine=set(chosen), error=str(error))
    messages.success(request, _("Your report subscriptions are saved."))
    return redirect("reports:subscriptions")


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
@permission_required(MANAGE_PERMISSION, raise_exception=True)
def everyone(request: HttpRequest) -> HttpResponse:
    """GET: the page; POST: who receives one workshop's reports."""
    if request.method == "GET":
        return _page(request)
    workshop = request.POST.get("workshop", "")
    posted = [_id(value) for value in request.POST.getlist("user")]
    ids = {pk for pk in posted if pk is not None}
    if len(ids) != len(set(posted)):
        return _page(request, status=400, error=_("The list of users is not valid."))
    try:
        set_workshop_subscribers(workshop, ids)
    except SubscriptionError as error:
        return _page(request, status=400, edited=(workshop, ids), error=str(error))
    messages.success(request, _("Subscribers of %(workshop)s are saved.") % {"workshop": workshop})
    return redirect("reports:subscriptions")


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
@permission_required(MANAGE_PERMISSION, raise_exception=True)
def sent(request: HttpRequest) -> HttpResponse:
    """GET: the page; POST: send one report again to its workshop's current subscribers."""
    if request.method == "GET":
        return _page(request)
    report = ShiftReport.objects.filter(pk=_id(request.POST.get("report", "")) or 0).first()
    if report is None:
        return _page(request, status=400, error=_("This report does not exist."))
    try:
        queued = resend_report(report, request.user, timezone.now())
    except ReportUnavailable as error:
        return _page(request, status=400, error=str(error))
    if queued:
        messages.success(
            request,
            _("The report %(report)s is queued again for %(count)d recipient(s).")
            % {"report": report, "count": queued},
        )
    else:
        messages.warning(
            request,
            _("Nobody to send %(report)s to: no subscriber with an e-mail address.")
            % {"report": report},
        )
    return redirect("reports:subscriptions")
