"""Which language each reader gets, in one place for pages and sockets (the choices and their
fallback: ``core.languages``; a user's: ``accounts.languages``).

A kiosk screen speaks the language set on it; a signed-in user the one chosen on their
preferences page; anyone else (the login and enrolment pages) their browser's. Any of them
left blank falls back to the plant's language (``LANGUAGE``).

Tiles pushed to walls are rendered by the worker, once per poll and per language *in use*:
the plant's and any set on a screen or a user. A plant where nobody picks another language
renders each tile once, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from accounts.languages import user_language
from accounts.models import Profile
from core.languages import chosen_or_plant, plant_language, supported
from screens.models import Screen
from screens.services import screen_from_request

#: Cache key of the languages in use; deleted whenever a screen or a profile changes.
IN_USE_KEY = "dashboard:languages-in-use"


def request_language(request: HttpRequest) -> str:
    """The language of a page: the user's, the kiosk screen's, or the browser's."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user_language(user)
    screen = screen_from_request(request)
    if screen is not None:
        return chosen_or_plant(screen.language)
    return translation.get_language_from_request(request)


def languages_in_use() -> tuple[str, ...]:
    """The languages walls and station pages may be open in, the plant's first."""
    found = cache.get(IN_USE_KEY)
    if found is None:
        found = _languages_in_use()
        cache.set(IN_USE_KEY, found, 600)
    return found


def _languages_in_use() -> tuple[str, ...]:
    chosen = set(Profile.objects.exclude(language="").values_list("language", flat=True))
    chosen |= set(Screen.objects.exclude(language="").values_list("language", flat=True))
    others = sorted(code for code in chosen if code in supported() and code != plant_language())
    return (plant_language(), *others)


def forget_languages_in_use(**_kwargs: Any) -> None:
    """A signal receiver: a screen or a profile changed, its language may be new."""
    cache.delete(IN_USE_KEY)


class LanguageMiddleware:
    """Activates the reader's language for the request (in place of Django's
    ``LocaleMiddleware``, which knows only the browser and the session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if not request.user.is_authenticated:
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response
