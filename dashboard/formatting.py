"""Dates and times in words for people: in the plant's time zone and the reader's language.

Pages use Django's template filters; this is for text made in Python (labels, messages,
e-mails), so that both read the same.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext as _


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


def format_duration(value: timedelta | float | None, *, signed: bool = False) -> str:
    """The one duration format: ``2 d 3 h``, ``1 h 05 min``, ``12 min 30 s``; "—" for none.

    Rounded once, to the smallest unit shown (14 h 53 min 40 s is ``14 h 54 min``), so a
    figure reads the same in every place it appears. ``signed`` for gaps (+/-)."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 and round(abs(seconds)) else ("+" if signed else "")
    whole = abs(seconds)
    if round(whole / 60) >= 24 * 60:
        hours = round(whole / 3600)
        text = _("%(days)d d %(hours)d h") % {"days": hours // 24, "hours": hours % 24}
    elif round(whole) >= 3600:
        minutes = round(whole / 60)
        text = _("%(hours)d h %(minutes)02d min") % {
            "hours": minutes // 60,
            "minutes": minutes % 60,
        }
    else:
        secs = round(whole)
        text = _("%(minutes)d min %(seconds)02d s") % {"minutes": secs // 60, "seconds": secs % 60}
    return sign + text
