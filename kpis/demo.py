"""The simulator's shift calendars, set up for the embedded demo so its KPIs match CWork's."""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from kpis.models import Break, Calendar, Shift

WEEKDAYS_ONLY = {"saturday": False, "sunday": False}


@transaction.atomic
def create_simulator_calendars(workshops: list[str]) -> list[Calendar]:
    """The simulator's three patterns, taken in turn by its workshops (in their order):
    3×8 (Monday 05:00 to Saturday 05:00), 2×8 (05:00–21:00) and a day shift (07:30–16:00
    with a 12:00–12:30 break), Monday to Friday. Named in the plant's language (they are
    stored, not translated at display). Does nothing if a calendar exists."""
    if Calendar.objects.exists():
        return []
    with translation.override(settings.LANGUAGE_CODE):
        return _create(workshops)


def _create(workshops: list[str]) -> list[Calendar]:
    three = Calendar.objects.create(name="3×8", workshops=workshops[0::3], is_default=False)
    two = Calendar.objects.create(name="2×8", workshops=workshops[1::3])
    day = Calendar.objects.create(name=_("Day shift"), workshops=workshops[2::3])
    for calendar in (three, two):
        Shift.objects.create(calendar=calendar, name=_("Morning"), start=time(5), end=time(13))
        Shift.objects.create(calendar=calendar, name=_("Afternoon"), start=time(13), end=time(21))
    Shift.objects.create(calendar=three, name=_("Night"), start=time(21), end=time(5))
    shift = Shift.objects.create(calendar=day, name=_("Day"), start=time(7, 30), end=time(16))
    Break.objects.create(shift=shift, name=_("Lunch"), start=time(12), end=time(12, 30))
    return [three, two, day]
