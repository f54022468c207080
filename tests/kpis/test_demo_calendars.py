"""The embedded demo's calendars are named in the plant's language."""

from __future__ import annotations

from typing import Any

import pytest

from kpis.demo import create_simulator_calendars
from kpis.models import Calendar, Shift

pytestmark = pytest.mark.django_db


def test_a_french_plant_gets_french_shift_names(settings: Any) -> None:
    settings.LANGUAGE_CODE = "fr"
    create_simulator_calendars(["A", "B", "C"])
    assert set(Calendar.objects.values_list("name", flat=True)) == {"3×8", "2×8", "Journée"}
    assert set(Shift.objects.values_list("name", flat=True)) == {
        "Matin",
        "Après-midi",
        "Nuit",
        "Jour",
    }


def test_an_english_plant_keeps_english_names(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    create_simulator_calendars(["A", "B", "C"])
    assert "Morning" in set(Shift.objects.values_list("name", flat=True))
