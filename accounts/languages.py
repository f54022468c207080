"""A signed-in user's language: the one chosen on their preferences page, else the plant's."""

from __future__ import annotations

from typing import Any

from accounts.profiles import profile_of
from core.languages import chosen_or_plant


def user_language(user: Any) -> str:
    """A signed-in user's language: their choice, else the plant's."""
    return chosen_or_plant(profile_of(user).language)
