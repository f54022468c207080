"""A signed-in user's language: the one chosen on their preferences page, else the plant's."""

from __future__ import annotations

from typing import Any

from accounts.models import Profile
from core.languages import chosen_or_plant, plant_language


def user_language(user: Any) -> str:
    """A signed-in user's language: their choice, else the plant's."""
    try:
        return chosen_or_plant(user.profile.language)
    except Profile.DoesNotExist:
        return plant_language()
