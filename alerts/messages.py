"""What an alert says, built once when it is queued: a subject, a plain text with its HTML
alternative for e-mail, and the event's fields for webhooks (``alerts.sending`` shapes them for
Slack, Teams or plain JSON).

The payload is stored on the delivery, so a retry sends what was true when it happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, linebreaks
from django.utils.translation import gettext as _

from alerts.models import Alert, AlertRule, Condition, Delivery
from core.formatting import format_duration, local_moment


def absolute_url(path: str) -> str:
    """Links in messages point at the dashboard's public address (``SITE_URL``)."""
    return settings.SITE_URL.rstrip("/") + path


def duration_text(span: timedelta | None) -> str:
    return "" if span is None else format_duration(max(span, timedelta(0)))


def html_body(text: str, url: str, link_label: str) -> str:
    """The e-mail's HTML alternative: the same words, escaped, and the link as a link (mail
    clients that show HTML otherwise print the bare address)."""
    paragraphs = linebreaks(text, autoescape=True)
    link = format_html('<p><a href="{}">{}</a></p>', url, link_label)
    return (
        '<!DOCTYPE html><html><body style="font-family: sans-serif">'
        f"{paragraphs}{link}</body></html>"
    )


def alert_message(
    alert: Alert, kind: str, level: int, now: datetime | None = None
) -> dict[str, Any]:
    """``now``: when it is told (the poll's time), for how long it has lasted so far."""
    station, rule = alert.station, alert.rule
    now = now or timezone.now()
    url = absolute_url(reverse("stations:detail", args=[station.pk]))
    values = {
        "rule": rule.name,
        "station": station.name,
        "summary": alert.summary,
        "since": local_moment(alert.since),
        "duration": duration_text((alert.resolved_at or now) - alert.since),
        "level": level,
    }
    if kind == Delivery.Kind.RESOLVED:
        subject = _("Resolved: %(rule)s on %(station)s") % values
        text = (
            _("%(station)s: %(rule)s is over. It lasted %(duration)s (since %(since)s).") % values
        )
    elif kind == Delivery.Kind.ESCALATED:
        subject = _("Escalated (level %(level)s): %(rule)s on %(station)s") % values
        text = _("%(station)s: %(summary)s, since %(since)s (%(duration)s so far).") % values
    elif rule.condition == Condition.SHIFT_OEE:
        # Something that happened at a shift's end, not a condition that lasts.
        subject = _("%(rule)s on %(station)s") % values
        text = _("%(station)s: %(summary)s.") % values
    else:
        subject = _("%(rule)s on %(station)s") % values
        text = _("%(station)s: %(summary)s, since %(since)s (%(duration)s so far).") % values
    return {
        "subject": subject,
        "text": f"{text}\n{url}",
        "html": html_body(text, url, _("Open the station in the dashboard")),
        "event": {
            "kind": str(kind),
            "rule": rule.name,
            "rule_id": rule.pk,
            "alert_id": alert.pk,
            "station": station.name,
            "station_id": station.cwork_id,
            "workshop": station.workshop,
            "summary": alert.summary,
            "since": alert.since.isoformat(),
            "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "duration_seconds": (
                round((alert.resolved_at - alert.since).total_seconds())
                if alert.resolved_at
                else None
            ),
            "level": level,
            "url": url,
        },
    }


def test_message(rule: AlertRule, level: int) -> dict[str, Any]:
    values = {"rule": rule.name, "level": level}
    subject = _("Test: %(rule)s") % values
    text = (
        _(
            "This is a test of the alert rule “%(rule)s” (level %(level)s). "
            "Nothing is wrong; you receive it because this level names you."
        )
        % values
    )
    url = absolute_url(reverse("home"))
    return {
        "subject": subject,
        "text": text,
        "html": html_body(text, url, _("Open the dashboard")),
        "event": {"kind": "test", "rule": rule.name, "rule_id": rule.pk, "level": level},
    }
