"""The languages the dashboard speaks, the plant's, and what a stored choice falls back to.

Who reads which language is decided where the choices are stored: a user's on their profile
(``accounts.languages``), a kiosk screen's on the screen, a page's by the request
(``dashboard.languages``). Each of them left blank, or naming a language no longer offered,
falls back to the plant's (``LANGUAGE``).
"""

from __future__ import annotations

from django.conf import settings


def supported() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def plant_language() -> str:
    return settings.LANGUAGE_CODE


def chosen_or_plant(code: str | None) -> str:
    """A stored choice if it is still a supported language, else the plant's."""
    return code if code in supported() else plant_language()
