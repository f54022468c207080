"""Dates and times in words for people: in the plant's time zone and the reader's language.

Pages use Django's template filters; this is for text made in Python (labels, messages,
e-mails), so that both read the same.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy


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


#: A duration's words, by its size: for pages and texts (``format_duration``) and for
#: spreadsheets' cells (``spreadsheet_duration_format``) alike.
DAYS_HOURS = gettext_lazy("%(days)d d %(hours)d h")
HOURS_MINUTES = gettext_lazy("%(hours)d h %(minutes)02d min")
MINUTES_SECONDS = gettext_lazy("%(minutes)d min %(seconds)02d s")
#: From how many seconds a duration is written in hours and minutes (once rounded to the
#: second, it is at least an hour).
HOURS_FROM = 3600 - 0.5


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
        text = str(DAYS_HOURS) % {"days": hours // 24, "hours": hours % 24}
    elif whole >= HOURS_FROM:
        minutes = round(whole / 60)
        text = str(HOURS_MINUTES) % {"hours": minutes // 60, "minutes": minutes % 60}
    else:
        secs = round(whole)
        text = str(MINUTES_SECONDS) % {"minutes": secs // 60, "seconds": secs % 60}
    return sign + text


#: Seconds in a day: a spreadsheet counts a duration in days.
DAY_SECONDS = 86400.0
_PLACEHOLDER = re.compile(r"%\((\w+)\)\d*d")


def _spreadsheet_codes(words: str, codes: dict[str, str]) -> str:
    """``words`` as a number format: each placeholder becomes its code, the rest is quoted."""
    written = []
    for index, piece in enumerate(_PLACEHOLDER.split(words)):  # text, name, text, ...
        if index % 2:
            written.append(codes[piece])
        elif piece:
            written.append('"' + piece.replace('"', "") + '"')
    return "".join(written)


def spreadsheet_duration_format() -> str:
    """The number format that writes a duration cell (a number, in days) in the words of
    ``format_duration`` and the reader's language: ``12 min 30 s`` under an hour, ``14 h 54 min``
    from an hour on. A spreadsheet counts elapsed hours but no days past a month, so a day or
    more stays in hours (``33 h 00 min`` where a page writes ``1 d 9 h``). The cell keeps the
    exact duration: sums and sorts work on it."""
    short = _spreadsheet_codes(str(MINUTES_SECONDS), {"minutes": "[m]", "seconds": "ss"})
    long = _spreadsheet_codes(str(HOURS_MINUTES), {"hours": "[h]", "minutes": "mm"})
    return f"[<{HOURS_FROM / DAY_SECONDS!r}]{short};{long}"
