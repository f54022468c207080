"""Dates and times in words for people: in the plant's time zone and the reader's language.

Pages use Django's template filters; this is for text made in Python (labels, messages,
e-mails), so that both read the same.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import formats, timezone


def local_date(day: date) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def local_moment(moment: datetime | None, *, seconds: bool = False) -> str:
    """A moment as the plant's clock showed it ("" for none)."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    if seconds:
        return f"{local_date(local.date())} {formats.time_format(local, 'H:i:s')}"
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def local_time(moment: datetime | None) -> str:
    """A moment's time of day on the plant's clock, as "10:35" ("" for none)."""
    if moment is None:
        return ""
    return formats.time_format(timezone.localtime(moment), "H:i")


def month_label(first: date) -> str:
    return formats.date_format(first, "YEAR_MONTH_FORMAT")
