"""Durations on pages in the one format (``core.formatting.format_duration``), so that a time
the server draws reads as the page's ticking script (static/dashboard/live.js) goes on."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils.html import json_script

from core.formatting import DAYS_HOURS, HOURS_MINUTES, MINUTES_SECONDS, format_duration

register = template.Library()


@register.filter
def elapsed_until(since: datetime | None, now: datetime) -> str:
    """How long from ``since`` to ``now`` ("" without ``since``; never negative)."""
    if since is None:
        return ""
    return format_duration(max(now - since, timedelta(0)))


@register.simple_tag
def duration_words() -> str:
    """The duration format's words in the page's language, for live.js's ticking times."""
    words = {"days": str(DAYS_HOURS), "hours": str(HOURS_MINUTES), "minutes": str(MINUTES_SECONDS)}
    return json_script(words, "duration-words")
