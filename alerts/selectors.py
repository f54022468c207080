"""What the alert pages read: the rules, their alerts, deliveries and webhooks, each with
the words the pages show them in. Queries only; the writes are ``alerts.services``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.forms import masked_url
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
from core.formatting import local_moment
from stations.models import Station

#: The alerts a station's page lists.
STATION_ALERTS = 20
#: The latest tests shown on a rule's history.
RECENT_TESTS = 10


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


def rules_with_relations() -> QuerySet[AlertRule]:
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
    rules = rules_with_relations().annotate(
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


def rule_alerts(rule: AlertRule, station: Station | None = None) -> QuerySet[Alert]:
    """The rule's alerts that fired (on ``station`` only, if given), newest first, each with
    its deliveries in the order they were made."""
    alerts = fired_alerts().filter(rule=rule)
    if station is not None:
        alerts = alerts.filter(station=station)
    return alerts.prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("created_at", "level", "pk"))
    ).order_by("-since", "-pk")


def alerted_stations(rule: AlertRule) -> QuerySet[Station]:
    """The stations the rule has alerted on, by name."""
    return Station.objects.filter(alerts__rule=rule).distinct().order_by("name")


def alerted_station(rule: AlertRule, pk: int) -> Station | None:
    """Station ``pk`` if the rule has alerted on it, else None."""
    return Station.objects.filter(pk=pk, alerts__rule=rule).distinct().first()


def recent_tests(rule: AlertRule) -> list[tuple[Delivery, str]]:
    """The rule's latest test deliveries, newest first, each with what became of it."""
    tests = Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST).order_by(
        "-created_at", "pk"
    )[:RECENT_TESTS]
    return [(d, delivery_status(d)) for d in tests]


def sent_test_results(rule: AlertRule, sent_at: datetime) -> list[tuple[Delivery, str]]:
    """What became of each message of the rule's test sent at ``sent_at``."""
    sent = Delivery.objects.filter(rule=rule, kind=Delivery.Kind.TEST, created_at=sent_at)
    return [(d, delivery_status(d)) for d in sent.order_by("level", "channel", "pk")]


def alert_count(rule: AlertRule) -> int:
    return rule.alerts.count()


# --- the webhooks ------------------------------------------------------------------------------


def webhook_count() -> int:
    return Webhook.objects.count()


def rules_using(hook: Webhook) -> list[str]:
    """The names of the rules with a level that calls ``hook``."""
    levels = EscalationLevel.objects.filter(webhooks=hook).select_related("rule")
    return sorted({level.rule.name for level in levels})


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
