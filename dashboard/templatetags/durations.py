"""Durations on pages in the one format (``core.formatting.format_duration``), so that a time
the server draws reads as the page's ticking script (static/dashboard/live.js) goes on."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template

from core.formatting import format_duration

register = template.Library()


@register.filter
def elapsed_until(since: datetime | None, now: datetime) -> str:
    """How long from ``since`` to ``now`` ("" without ``since``; never negative)."""
    if since is None:
        return ""
    return format_duration(max(now - since, timedelta(0)))
