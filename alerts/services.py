"""What the alert pages change: rules and their levels, rules switched on or off, deleted
rules and webhooks, and a rule's test sent. Each write tells the engine to read the rules
afresh (``engine.forget_cached``) where it changes what the engine reads."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts import engine
from alerts.models import AlertRule, Delivery, EscalationLevel, Webhook
from alerts.outbox import queue_test
from alerts.sending import send_now

if TYPE_CHECKING:
    from alerts.forms import LevelFormSet, RuleForm

logger = logging.getLogger(__name__)


def save_rule(form: RuleForm, levels: LevelFormSet, user: Any) -> AlertRule:
    """The rule and its levels, in one transaction; the engine reads them afresh."""
    with transaction.atomic():
        rule = form.save(commit=False)
        if rule.pk is None:
            rule.created_by = user if getattr(user, "is_authenticated", False) else None
        rule.save()
        form.save_m2m()
        levels.instance = rule
        save_levels(levels, rule)
    engine.forget_cached()
    return rule


def save_levels(levels: LevelFormSet, rule: AlertRule) -> None:
    """The levels a formset changed, added or deleted (inside the caller's transaction)."""
    changed = levels.save(commit=False)
    for level in levels.deleted_objects:
        level.delete()
    # Two levels may swap numbers: park the ones being saved first, so the
    # one-number-per-rule constraint never sees a half-done swap.
    EscalationLevel.objects.filter(pk__in=[lv.pk for lv in changed if lv.pk]).update(
        level=F("level") + 100
    )
    for level in changed:
        level.rule = rule
        level.save()
    levels.save_m2m()


def set_enabled(rule: AlertRule, enabled: bool) -> None:
    AlertRule.objects.filter(pk=rule.pk).update(enabled=enabled, updated_at=timezone.now())
    engine.forget_cached()


def delete_rule(rule: AlertRule) -> None:
    """The rule, its levels and its alerts' history."""
    rule.delete()
    engine.forget_cached()


def delete_webhook(hook: Webhook) -> None:
    hook.delete()
    engine.forget_cached()


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
