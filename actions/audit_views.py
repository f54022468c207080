"""The audit trail for the people who check it: filter, read, export what was filtered.

The rows are the ``audit`` app's (written by ``actions.services``); the pages are here, beside
the forms whose labels name the values each attempt sent.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.permissions import Action
from actions.forms import FORMS
from audit.models import ActionAttempt, ActionKind, Outcome
from core.spreadsheets import safe_cell
from stations.models import State, Station

PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Detail:
    """One value an attempt sent, as a reader of the trail sees it."""

    label: str
    text: str
    #: The hover text: for a reason, its CWork id.
    title: str = ""
    #: A reason the state catalogue does not know (any more).
    unknown: bool = False


def details_of(attempts: Iterable[ActionAttempt]) -> list[tuple[ActionAttempt, list[Detail]]]:
    """Each attempt with its values in words: a reason by its name (its id in the hover
    text), a reason the catalogue no longer has by its id and "unknown state". One query for
    the reasons of them all."""
    attempts = list(attempts)
    ids = {handle for a in attempts if (handle := _state_id(a)) is not None}
    states = {s.cwork_id: s for s in State.objects.filter(cwork_id__in=ids)} if ids else {}
    return [(attempt, _details(attempt, states)) for attempt in attempts]


def _state_id(attempt: ActionAttempt) -> int | None:
    """The reason's CWork id the attempt sent (a refused form's value is the text typed)."""
    values = attempt.values if isinstance(attempt.values, dict) else {}
    value = values.get("state")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if -(2**31) <= value < 2**31 else None  # what a state's id can be


def _details(attempt: ActionAttempt, states: dict[int, State]) -> list[Detail]:
    if not isinstance(attempt.values, dict):
        return [Detail("", str(attempt.values))]
    try:
        fields = FORMS[Action(attempt.action)].base_fields
    except ValueError:
        fields = {}
    out = []
    for name, value in attempt.values.items():
        label = str(fields[name].label) if name in fields else name
        handle = _state_id(attempt) if name == "state" else None
        if handle is None:  # not a reason, or no id (nothing chosen, text refused here)
            out.append(Detail(label, "" if value is None else str(value)))
            continue
        state = states.get(handle)
        ident = gettext("CWork state id %(id)s") % {"id": handle}
        if state is None:
            text = gettext("unknown state (id %(id)s)") % {"id": handle}
            out.append(Detail(label, text, ident, unknown=True))
        elif not state.present_in_cwork:
            title = ident + " · " + gettext("no longer listed by CWork")
            out.append(Detail(label, state.name, title))
        else:
            out.append(Detail(label, state.name, ident))
    return out


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


def _filtered(request: HttpRequest) -> tuple[AuditFilter, QuerySet[ActionAttempt]]:
    """The filter as asked (the page and the CSV read the same rows)."""
    form = AuditFilter(request.GET or None)
    rows = form.filtered() if form.is_bound else ActionAttempt.objects.select_related("station")
    return form, rows


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_audit", raise_exception=True)
def attempt_list(request: HttpRequest) -> HttpResponse:
    form, rows = _filtered(request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {
            "form": form,
            "page": page,
            "entries": details_of(page),
            "query": query.urlencode(),
        },
    )


@require_GET
@never_cache
@login_required
@permission_required("accounts.view_audit", raise_exception=True)
def attempt_csv(request: HttpRequest) -> HttpResponse:
    _form, rows = _filtered(request)
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
