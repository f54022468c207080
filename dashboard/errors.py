"""The product's own 403, 404 and 500 pages, in the reader's language, with the navigation.

The 500 page is drawn when anything may be broken, the database first: it reads nothing
stored (no session, no user unless already loaded, no messages) and falls back to a page
with only the way back to the wall.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from dashboard.navigation import Navigation, navigation_for, view_name_of

logger = logging.getLogger(__name__)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler403``: a page one may not open, said plainly, with the way elsewhere."""
    return render(request, "403.html", status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``."""
    return render(request, "404.html", status=404)


def _loaded_navigation(request: HttpRequest) -> Navigation:
    """The navigation, only if the user was loaded before the failure; else none."""
    user = getattr(request, "_cached_user", None)
    if user is None:
        return Navigation()
    try:
        return navigation_for(user, view_name_of(request), can_log_out=False)
    except Exception:  # its permissions need the database, which may be the failure
        logger.warning("500 page: navigation left out", exc_info=True)
        return Navigation()


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: rendered without a request context, so nothing stored is read."""
    # LanguageMiddleware sets LANGUAGE_CODE once it knows the reader; before that (a failing
    # database breaks it) the browser's language is the best guess, read from its header.
    language = getattr(request, "LANGUAGE_CODE", "") or translation.get_language_from_request(
        request
    )
    with translation.override(language):
        try:
            context = {
                "navigation": _loaded_navigation(request),
                "LANGUAGE_CODE": translation.get_language(),
                "home": reverse("home"),
            }
            return HttpResponseServerError(loader.get_template("500.html").render(context))
        except Exception:  # the page that says it failed must not fail in turn
            logger.exception("the 500 page could not be drawn")
            text = _("Something went wrong on our side.")
            return HttpResponseServerError(text, content_type="text/plain; charset=utf-8")
