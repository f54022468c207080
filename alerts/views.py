"""The pages managers keep alert rules and webhooks with, send a test from, and read what
fired (the alerts of one station, for its page: ``alerts.selectors.station_alerts``).

Request handling only: what the pages read is ``alerts.selectors``, what they change is
``alerts.services``.

Every change is a POST with a CSRF token and works without JavaScript (a page, or a redirect
to one); a GET on an action's URL shows what it would do and the button that does it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from alerts import selectors, services
from alerts.forms import FIELD_CONDITIONS, RuleForm, WebhookForm, level_formset
from alerts.models import AlertRule, Webhook
from stations.models import Station

#: Alerts per page of a rule's history.
HISTORY_PAGE_SIZE = 25

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


# --- the rules ---------------------------------------------------------------------------------


@require_GET
@manager_page
def rule_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "alerts/rule_list.html",
        {"rows": selectors.rule_rows(), "webhook_count": selectors.webhook_count()},
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
        "levels_now": selectors.level_views(rule) if rule.pk else [],
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
    saved = services.save_rule(form, levels, request.user)
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
    services.set_enabled(rule, enabled)
    note = _("Rule “%(name)s” enabled.") if enabled else _("Rule “%(name)s” disabled.")
    messages.success(request, note % {"name": rule.name})
    return _see_other(_back(request, reverse("alerts:rules")))


@require_http_methods(["GET", "POST"])
@manager_page
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    if request.method != "POST":
        context = {"rule": rule, "alert_count": selectors.alert_count(rule)}
        return render(request, "alerts/rule_delete.html", context)
    name = rule.name
    services.delete_rule(rule)
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": name})
    return _see_other(reverse("alerts:rules"))


# --- the test ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@manager_page
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(selectors.rules_with_relations(), pk=pk)
    levels = selectors.level_views(rule)
    context: dict[str, Any] = {
        "rule": rule,
        "levels": levels,
        "has_recipients": any(level.recipients for level in levels),
        "results": None,
    }
    if request.method == "POST":
        # Then a GET of the result: reloading it shows the result again, never sends again.
        sent_at = timezone.now()
        services.send_test(rule, sent_at)
        url = reverse("alerts:rule_test", args=[rule.pk])
        return _see_other(f"{url}?{urlencode({TEST_SENT_AT: sent_at.isoformat()})}")
    shown_at = _sent_at(request)
    if shown_at is not None:
        context["results"] = selectors.sent_test_results(rule, shown_at)
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
    return selectors.alerted_station(rule, pk)


@require_GET
@manager_page
def rule_history(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(selectors.rules_with_relations(), pk=pk)
    station = _chosen_station(request, rule)
    alerts = selectors.rule_alerts(rule, station)
    page = Paginator(alerts, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/rule_history.html",
        {
            "rule": rule,
            "condition": selectors.condition_text(rule),
            "scope": selectors.scope_text(rule),
            "page": page,
            "rows": selectors.alert_rows(page.object_list, timezone.now(), deliveries=True),
            "tests": selectors.recent_tests(rule),
            "station": station,
            "stations": selectors.alerted_stations(rule),
            "query": f"station={station.pk}&" if station else "",
        },
    )


# --- the webhooks ------------------------------------------------------------------------------


@require_GET
@manager_page
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/webhook_list.html", {"rows": selectors.webhook_rows()})


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
        context = {"hook": hook, "rules": selectors.rules_using(hook)}
        return render(request, "alerts/webhook_delete.html", context)
    name = hook.name
    services.delete_webhook(hook)
    messages.success(request, _("Webhook “%(name)s” deleted.") % {"name": name})
    return _see_other(reverse("alerts:webhooks"))
