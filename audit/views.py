"""The audit trail for the people who check it: filter, read, export what was filtered."""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.models import ActionAttempt, ActionKind, Outcome
from dashboard.spreadsheets import safe_cell
from stations.models import Station

PAGE_SIZE = 100


class AuditFilter(forms.Form):
    station = forms.ModelChoiceField(
        Station.objects.all(), required=False, label=_("Station"), empty_label=_("All stations")
    )
    user = forms.ModelChoiceField(
        get_user_model().objects.filter(action_attempts__isnull=False).distinct(),
        required=False,
        label=_("User"),
        empty_label=_("Everyone"),
    )
    action = forms.ChoiceField(
        choices=[("", _("All actions")), *ActionKind.choices], required=False, label=_("Action")
    )
    outcome = forms.ChoiceField(
        choices=[("", _("All outcomes")), *Outcome.choices], required=False, label=_("Outcome")
    )
    start = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def filtered(self) -> QuerySet[ActionAttempt]:
        rows = ActionAttempt.objects.select_related("station")
        if not self.is_valid():
            return rows.none()
        data = self.cleaned_data
        if data["station"]:
            rows = rows.filter(station=data["station"])
        if data["user"]:
            rows = rows.filter(user=data["user"])
        if data["action"]:
            rows = rows.filter(action=data["action"])
        if data["outcome"]:
            rows = rows.filter(outcome=data["outcome"])
        zone = timezone.get_current_timezone()
        # The calendar's first and last days bound nothing (and would overflow in UTC).
        if data["start"] and data["start"] > date.min:
            rows = rows.filter(started_at__gte=datetime.combine(data["start"], time(), zone))
        if data["end"] and data["end"] < date.max:
            end = datetime.combine(data["end"] + timedelta(days=1), time(), zone)
            rows = rows.filter(started_at__lt=end)
        return rows


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_audit", raise_exception=True)
def attempt_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilter(request.GET or None)
    rows = form.filtered() if form.is_bound else ActionAttempt.objects.select_related("station")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_audit", raise_exception=True)
def attempt_csv(request: HttpRequest) -> HttpResponse:
    form = AuditFilter(request.GET or None)
    rows = form.filtered() if form.is_bound else ActionAttempt.objects.select_related("station")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "started_at",
            "user",
            "station",
            "station_cwork_id",
            "action",
            "values",
            "outcome",
            "cwork_code",
            "cwork_message",
            "duration_s",
            "idempotency_key",
        ]
    )
    for row in rows.iterator(chunk_size=500):
        writer.writerow(
            [
                timezone.localtime(row.started_at).isoformat(),
                safe_cell(row.username),
                safe_cell(row.station.name),
                row.station_cwork_id,
                row.action,
                safe_cell(_values_text(row.values)),
                row.outcome,
                "" if row.cwork_code is None else row.cwork_code,
                safe_cell(row.cwork_message),
                f"{row.duration:.3f}",
                row.idempotency_key,
            ]
        )
    return response


def _values_text(values: object) -> str:
    if isinstance(values, dict):
        return "; ".join(f"{key}={value}" for key, value in values.items())
    return str(values)
