"""Messages waiting to be sent: one ``Delivery`` row per recipient, written in the same
transaction as what they tell, sent by ``alerts.sending`` (so a slow mail server never holds a
poll, and a failure is retried and visible instead of lost)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import translation

from accounts.languages import user_language
from alerts.messages import alert_message, test_message
from alerts.models import Alert, AlertRule, Delivery, EscalationLevel, Webhook
from core.languages import plant_language


def queue_for_alert(
    alert: Alert, kind: str, levels: Sequence[EscalationLevel], now: datetime
) -> int:
    """Every address and webhook of ``levels`` told ``kind`` about ``alert``; how many."""
    rows = []
    for level in levels:
        for language, (addresses, webhooks) in by_language(level).items():
            with translation.override(language):
                payload = alert_message(alert, kind, level.level, now)
            for row in _rows(addresses, webhooks, payload, now):
                row.alert, row.rule_id, row.kind = alert, alert.rule_id, kind
                row.level = level.level
                rows.append(row)
    Delivery.objects.bulk_create(rows)
    return len(rows)


def queue_test(rule: AlertRule, now: datetime) -> int:
    """A test message to every recipient of every level of ``rule``, marked as a test."""
    rows = []
    for level in rule.levels.prefetch_related("users__profile", "webhooks").order_by("level"):
        for language, (addresses, webhooks) in by_language(level).items():
            with translation.override(language):
                payload = test_message(rule, level.level)
            for row in _rows(addresses, webhooks, payload, now):
                row.level, row.rule, row.kind = level.level, rule, Delivery.Kind.TEST
                rows.append(row)
    Delivery.objects.bulk_create(rows)
    return len(rows)


def queue_message(
    kind: str, addresses: Sequence[str], payload: dict[str, Any], now: datetime, **links: Any
) -> int:
    """Any other message (an end-of-shift report) to ``addresses``; ``links`` are the
    delivery's ``report`` or ``rule``."""
    rows = _rows(addresses, (), payload, now)
    for row in rows:
        row.kind = kind
        for name, value in links.items():
            setattr(row, name, value)
    Delivery.objects.bulk_create(rows)
    return len(rows)


def by_language(level: EscalationLevel) -> dict[str, tuple[list[str], list[Webhook]]]:
    """A level's recipients by the language they read: the users chosen on it in their own,
    typed addresses and webhooks (a channel, not a person) in the plant's."""
    plant = plant_language()
    groups: dict[str, tuple[list[str], list[Webhook]]] = defaultdict(lambda: ([], []))
    languages = {u.email: user_language(u) for u in level.users.all() if u.email}
    for address in level.addresses():
        groups[languages.get(address, plant)][0].append(address)
    groups[plant][1].extend(level.webhooks.all())
    return {language: found for language, found in groups.items() if found[0] or found[1]}


def _rows(
    addresses: Sequence[str], webhooks: Sequence[Webhook], payload: dict[str, Any], now: datetime
) -> list[Delivery]:
    rows = [
        Delivery(
            channel=Delivery.Channel.EMAIL,
            recipient=address[:300],
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
        for address in addresses
    ]
    rows += [
        Delivery(
            channel=Delivery.Channel.WEBHOOK,
            recipient=hook.name[:300],
            webhook=hook,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
        for hook in webhooks
        if hook.enabled
    ]
    return rows
