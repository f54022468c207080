"""The pages managers keep alert rules and webhooks with, send a test from, and read what
fired; and the alerts of one station, for its page.

Every change is a POST with a CSRF token and works without JavaScript (a page, or a redirect
to one); a GET on an action's URL shows what it would do and the button that does it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from alerts import engine
from alerts.forms import (
    FIELD_CONDITIONS,
    RuleForm,
    WebhookForm,
    level_formset,
    masked_url,
    save_rule,
)
from alerts.messages import duration_text
from alerts.models import (
    STOP_CATEGORIES,
    Alert,
    AlertRule,
    Condition,
    Delivery,
    EscalationLevel,
    Webhook,
)
from alerts.outbox import queue_test
from alerts.sending import send_now
from core.formatting import local_moment
from stations.models import Station

logger = logging.getLogger(__name__)

#: Alerts per page of a rule's history.
HISTORY_PAGE_SIZE = 25
#: The alerts a station's page lists.
STATION_ALERTS = 20
#: The latest tests shown on a rule's history.
RECENT_TESTS = 10

PERMISSION = "accounts.manage_alerts"
#: The query parameter naming a test's time on the page showing its result.
TEST_SENT_AT = "sent"

View = Callable[..., HttpResponse]


def manager_page(view: View) -> View:
    """Logged-in users with ``accounts.manage_alerts``; anyone else gets a 403."""
    return never_cache(login_required(permission_required(PERMISSION, raise_exception=True)(view)))


def _see_other(url: str) -> HttpResponseRedirect:
    """A redirect that turns a POST into a GET (and keeps it out of the history)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _back(request: HttpRequest, default: str) -> str:
    """Where a form said to go back to, if it is one of our pages."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- rules in words ----------------------------------------------------------------------------


def _held(rule: AlertRule) -> str:
    if not rule.minutes:
        return _("at once")
    return _("for at least %(minutes)s min") % {"minutes": rule.minutes}


def condition_text(rule: AlertRule) -> str:
    """What the rule watches, in one sentence (its relations prefetched, or a few queries)."""
    condition = rule.condition
    if condition == Condition.STATE:
        states = ", ".join(sorted(s.name for s in rule.states.all())) or "—"
        return _("In state %(states)s, %(held)s") % {"states": states, "held": _held(rule)}
    if condition == Condition.STOP:
        category = dict(STOP_CATEGORIES).get(rule.stop_category, rule.stop_category or "—")
        return _("Stopped (%(category)s), %(held)s") % {"category": category, "held": _held(rule)}
    if condition == Condition.ALARM:
        parts = []
        if rule.alarm_code:
            parts.append(_("code %(code)s") % {"code": rule.alarm_code})
        if rule.alarm_pattern:
            parts.append(_("message matching “%(pattern)s”") % {"pattern": rule.alarm_pattern})
        what = _(" and ").join(parts) or "—"
        return _("Alarm with %(what)s active, %(held)s") % {"what": what, "held": _held(rule)}
    if condition == Condition.NOT_REPORTING:
        return _("Not reporting to CWork, %(held)s") % {"held": _held(rule)}
    if condition == Condition.BEHIND_PACE:
        return _("More than %(percent)s %% behind pace, %(held)s") % {
            "percent": rule.threshold_percent,
            "held": _held(rule),
        }
    if condition == Condition.SHIFT_OEE:
        return _("Shift OEE below %(percent)s %% when the shift ends") % {
            "percent": rule.threshold_percent
        }
    return rule.get_condition_display()


def scope_text(rule: AlertRule) -> str:
    """Which stations the rule covers: those named, and those of the workshops and groups."""
    stations = sorted(s.name for s in rule.stations.all())
    workshops = sorted(rule.workshops or [])
    groups = sorted(rule.groups or [])
    if not (stations or workshops or groups):
        return _("All stations")
    parts = []
    if stations:
        parts.append(_("Stations: %(names)s") % {"names": ", ".join(stations)})
    if workshops:
        parts.append(_("Workshops: %(names)s") % {"names": ", ".join(workshops)})
    if groups:
        parts.append(_("Groups: %(names)s") % {"names": ", ".join(groups)})
    return "; ".join(parts)


def shifts_text(rule: AlertRule) -> str:
    shifts = [f"{s.calendar.name} · {s.name}" for s in rule.shifts.all()]
    return ", ".join(sorted(shifts)) if shifts else _("At all times")


@dataclass(frozen=True, slots=True)
class LevelView:
    level: int
    when: str
    recipients: list[str]


def recipients_of(level: EscalationLevel) -> list[str]:
    """Who a level tells, as the sender will: addresses, then enabled webhooks."""
    hooks = [hook.name for hook in level.webhooks.all() if hook.enabled]
    return [*level.addresses(), *hooks]


def level_views(rule: AlertRule) -> list[LevelView]:
    out = []
    for level in sorted(rule.levels.all(), key=lambda x: x.level):
        when = (
            _("after %(minutes)s min") % {"minutes": level.delay_minutes}
            if level.delay_minutes
            else _("when it fires")
        )
        out.append(LevelView(level.level, when, recipients_of(level)))
    return out


def _rules_with_relations() -> QuerySet[AlertRule]:
    return AlertRule.objects.prefetch_related(
        "states",
        "stations",
        "shifts__calendar",
        Prefetch(
            "levels",
            queryset=EscalationLevel.objects.order_by("level").prefetch_related(
                "users", "webhooks"
            ),
        ),
    )


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: AlertRule
    condition: str
    scope: str
    shifts: str
    levels: list[LevelView]
    open_alerts: int
    last_fired: datetime | None


def rule_rows() -> list[RuleRow]:
    """Every rule as the list shows it, in a handful of queries."""
    rules = _rules_with_relations().annotate(
        open_alerts=Count("alerts", filter=Q(alerts__status=Alert.Status.FIRING)),
        last_fired=Max("alerts__fired_at"),
    )
    return [
        RuleRow(
            rule=rule,
            condition=condition_text(rule),
            scope=scope_text(rule),
            shifts=shifts_text(rule),
            levels=level_views(rule),
            open_alerts=rule.open_alerts,
            last_fired=rule.last_fired,
        )
        for rule in rules.order_by("name", "pk")
    ]


# --- alerts and deliveries in words ------------------------------------------------------------


def delivery_status(delivery: Delivery) -> str:
    """Sent, waiting, or failed with why and what happens next."""
    if delivery.status == Delivery.Status.SENT:
        return _("sent")
    if delivery.last_error:
        error = delivery.last_error.strip().rstrip(".")
        if delivery.next_attempt_at is not None:
            return _("failed: %(error)s, will retry at %(time)s") % {
                "error": error,
                "time": local_moment(delivery.next_attempt_at, seconds=True),
            }
        return _("failed: %(error)s (no more attempts)") % {"error": error}
    if delivery.status == Delivery.Status.FAILED:
        return _("failed")
    return _("waiting to be sent")


@dataclass(slots=True)
class AlertRow:
    alert: Alert
    duration: str
    ongoing: bool
    deliveries: list[tuple[Delivery, str]] = field(default_factory=list)


def alert_rows(
    alerts: Iterable[Alert], now: datetime, *, deliveries: bool = False
) -> list[AlertRow]:
    rows = []
    for alert in alerts:
        ongoing = alert.resolved_at is None
        span = (now - alert.since) if ongoing else alert.duration
        row = AlertRow(alert, duration_text(span), ongoing)
        if deliveries:
            row.deliveries = [(d, delivery_status(d)) for d in alert.deliveries.all()]
        rows.append(row)
    return rows


def fired_alerts() -> QuerySet[Alert]:
    """Alerts that fired (a pending one is a condition not yet held long enough)."""
    return Alert.objects.exclude(status=Alert.Status.PENDING).select_related("rule", "station")


def station_alerts(station: Station, now: datetime | None = None) -> dict[str, Any]:
    """The station's open alerts and its latest ones, for the station page."""
    now = now or timezone.now()
    alerts = list(fired_alerts().filter(station=station).order_by("-since", "-pk")[:STATION_ALERTS])
    open_alerts = [a for a in alerts if a.status == Alert.Status.FIRING]
    shown = {a.pk for a in alerts}
    # An open alert older than the latest twenty is still open: it is listed too.
    open_alerts += list(
        fired_alerts()
        .filter(station=station, status=Alert.Status.FIRING)
        .exclude(pk__in=shown)
        .order_by("-since")
    )
    return {
        "open": alert_rows(open_alerts, now),
        "recent": alert_rows(alerts, now),
        "limit": STATION_ALERTS,
    }


# --- the rules ---------------------------------------------------------------------------------


@require_GET
@manager_page
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "alerts/rule_list.html",
        {"rows": rule_rows(), "webhook_count": Webhook.objects.count()},
    )


def _condition_fields(form: RuleForm) -> list[tuple[Any, str]]:
    """The condition's own fields, each with the conditions it belongs to (for the CSS that
    shows only the chosen condition's)."""
    return [(form[name], " ".join(conditions)) for name, conditions in FIELD_CONDITIONS.items()]


def error_list(form: RuleForm, levels: Any) -> list[tuple[str, str]]:
    """Every error of the rule and its levels, with the field it is about (for the summary
    at the top of the page, each a link down to its field)."""
    found = [
        (f"#{form[name].auto_id}", f"{form[name].label}: {error}")
        for name, errors in form.errors.items()
        if name != "__all__"
        for error in errors
    ]
    found += [("#errors", str(error)) for error in form.non_field_errors()]
    found += [("#levels", str(error)) for error in levels.non_form_errors()]
    for index, level_form in enumerate(levels.forms):
        label = _("Level row %(n)s") % {"n": index + 1}
        for name, errors in level_form.errors.items():
            anchor = (
                f"#{level_form[name].auto_id}" if name in level_form.fields else (f"#level-{index}")
            )
            found += [(anchor, f"{label}: {error}") for error in errors]
    return found


def _rule_page(
    request: HttpRequest, rule: AlertRule, form: RuleForm, levels: Any, status: int = 200
) -> HttpResponse:
    context = {
        "rule": rule,
        "form": form,
        "levels": levels,
        "condition_fields": _condition_fields(form),
        "errors": error_list(form, levels) if form.is_bound else [],
        "levels_now": level_views(rule) if rule.pk else [],
    }
    return render(request, "alerts/rule_form.html", context, status=status)


def _edit(request: HttpRequest, rule: AlertRule) -> HttpResponse:
    if request.method != "POST":
        return _rule_page(request, rule, RuleForm(instance=rule), level_formset(rule))
    form = RuleForm(request.POST, instance=rule)
    levels = level_formset(rule, request.POST)
    form_ok = form.is_valid()
    if not (levels.is_valid() and form_ok):
        return _rule_page(request, rule, form, levels, status=400)
    created = rule.pk is None
    saved = save_rule(form, levels, request.user)
    note = _("Rule “%(name)s” created.") if created else _("Rule “%(name)s” saved.")
    messages.success(request, note % {"name": saved.name})
    return _see_other(reverse("alerts:rule", args=[saved.pk]))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, AlertRule(minutes=5))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(AlertRule, pk=pk))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable or disable a rule (the wanted state is sent, so a double click does not undo)."""
    rule = get_object_or_404(AlertRule, pk=pk)
    if request.method != "POST":
        return render(request, "alerts/rule_toggle.html", {"rule": rule})
    wanted = request.POST.get("enabled")
    enabled = (wanted == "1") if wanted in ("0", "1") else not rule.enabled
    AlertRule.objects.filter(pk=rule.pk).update(enabled=enabled, updated_at=timezone.now())
    engine.forget_cached()
    note = _("Rule “%(name)s” enabled.") if enabled else _("Rule “%(name)s” disabled.")
    messages.success(request, note % {"name": rule.name})
    return _see_other(_back(request, reverse("alerts:rules")))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    if request.method != "POST":
        context = {"rule": rule, "alert_count": rule.alerts.count()}
        return render(request, "alerts/rule_delete.html", context)
    name = rule.name
    rule.delete()
    engine.forget_cached()
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": name})
    return _see_other(reverse("alerts:rules"))


# --- the test ----------------------------------------------------------------------------------


def send_test(rule: AlertRule, now: datetime) -> list[Delivery]:
    """A test message to every recipient of ``rule``, tried once now; what became of each.

    The deliveries are queued like any other, so one that fails now is retried by the
    background sender.
    """
    with transaction.atomic():
        queue_test(rule, now)
        queued = list(
            Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST, created_at=now).order_by(
                "level", "channel", "pk"
            )
        )
    if not queued:
        return []
    try:
        return list(send_now(queued))
    except Exception:  # the queue keeps them: a failure here must not lose the answer
        logger.exception("test of alert rule %s: sending failed", rule.pk)
        return list(Delivery.objects.filter(pk__in=[d.pk for d in queued]).order_by("level", "pk"))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(_rules_with_relations(), pk=pk)
    levels = level_views(rule)
    context: dict[str, Any] = {
        "rule": rule,
        "levels": levels,
        "has_recipients": any(level.recipients for level in levels),
        "results": None,
    }
    if request.method == "POST":
        # Then a GET of the result: reloading it shows the result again, never sends again.
        sent_at = timezone.now()
        send_test(rule, sent_at)
        url = reverse("alerts:rule_test", args=[rule.pk])
        return _see_other(f"{url}?{urlencode({TEST_SENT_AT: sent_at.isoformat()})}")
    shown_at = _sent_at(request)
    if shown_at is not None:
        sent = Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST, created_at=shown_at)
        context["results"] = [
            (d, delivery_status(d)) for d in sent.order_by("level", "channel", "pk")
        ]
    return render(request, "alerts/rule_test.html", context)


def _sent_at(request: HttpRequest) -> datetime | None:
    """When the test shown was sent (the query names it), or None if it names none."""
    try:
        moment = datetime.fromisoformat(request.GET.get(TEST_SENT_AT, ""))
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


# --- the history -------------------------------------------------------------------------------


def _chosen_station(request: HttpRequest, rule: AlertRule) -> Station | None:
    try:
        pk = int(request.GET.get("station", ""))
    except ValueError:
        return None
    return Station.objects.filter(pk=pk, alerts__rule=rule).distinct().first()


@require_GET
@manager_page
def rule_history(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(_rules_with_relations(), pk=pk)
    station = _chosen_station(request, rule)
    alerts = fired_alerts().filter(rule=rule)
    if station is not None:
        alerts = alerts.filter(station=station)
    alerts = alerts.prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("created_at", "level", "pk"))
    ).order_by("-since", "-pk")
    page = Paginator(alerts, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    tests = Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST).order_by(
        "-created_at", "pk"
    )[:RECENT_TESTS]
    stations = Station.objects.filter(alerts__rule=rule).distinct().order_by("name")
    return render(
        request,
        "alerts/rule_history.html",
        {
            "rule": rule,
            "condition": condition_text(rule),
            "scope": scope_text(rule),
            "page": page,
            "rows": alert_rows(page.object_list, timezone.now(), deliveries=True),
            "tests": [(d, delivery_status(d)) for d in tests],
            "station": station,
            "stations": stations,
            "query": f"station={station.pk}&" if station else "",
        },
    )


# --- the webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRow:
    hook: Webhook
    url: str
    rules: Sequence[str]


def webhook_rows() -> list[WebhookRow]:
    users: dict[int, set[str]] = {}
    for hook_id, rule_name in EscalationLevel.webhooks.through.objects.values_list(
        "webhook_id", "escalationlevel__rule__name"
    ):
        users.setdefault(hook_id, set()).add(rule_name)
    return [
        WebhookRow(hook, masked_url(hook.url), sorted(users.get(hook.pk, ())))
        for hook in Webhook.objects.order_by("name")
    ]


@require_GET
@manager_page
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/webhook_list.html", {"rows": webhook_rows()})


def _webhook_edit(request: HttpRequest, hook: Webhook) -> HttpResponse:
    if request.method != "POST":
        form = WebhookForm(instance=hook)
        return render(request, "alerts/webhook_form.html", {"form": form, "hook": hook})
    form = WebhookForm(request.POST, instance=hook)
    if not form.is_valid():
        context = {"form": form, "hook": hook}
        return render(request, "alerts/webhook_form.html", context, status=400)
    created = hook.pk is None
    saved = form.save()
    note = _("Webhook “%(name)s” created.") if created else _("Webhook “%(name)s” saved.")
    messages.success(request, note % {"name": saved.name})
    return _see_other(reverse("alerts:webhooks"))


@require_http_methods(["GET", "POST"])
@manager_page
def webhook_create(request: HttpRequest) -> HttpResponse:
    return _webhook_edit(request, Webhook(format=Webhook.Format.JSON))


@require_http_methods(["GET", "POST"])
@manager_page
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _webhook_edit(request, get_object_or_404(Webhook, pk=pk))


@require_http_methods(["GET", "POST"])
@manager_page
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    hook = get_object_or_404(Webhook, pk=pk)
    if request.method != "POST":
        levels = EscalationLevel.objects.filter(webhooks=hook).select_related("rule")
        rules = sorted({level.rule.name for level in levels})
        return render(request, "alerts/webhook_delete.html", {"hook": hook, "rules": rules})
    name = hook.name
    hook.delete()
    engine.forget_cached()
    messages.success(request, _("Webhook “%(name)s” deleted.") % {"name": name})
    return _see_other(reverse("alerts:webhooks"))
