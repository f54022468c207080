"""The page shown when a form's CSRF check fails: what happened and what to do, in the reader's
language, in place of Django's bare technical page (``CSRF_FAILURE_VIEW``).

Nothing was done with the refused form. It usually means the page was open for too long or
the browser dropped its cookies; on a kiosk screen's enrolment page, opening the link again
gives a fresh form (the link is not used up by the refused confirmation).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from screens import views as screens


@never_cache
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django has already logged ``reason`` (``django.security.csrf``); the reader gets words."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        match = None
    if match is not None and match.view_name == "screens:enrol":
        return screens.enrolment_form_refused(request, match.kwargs["token"])
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = ""
    return render(request, "csrf_failure.html", {"back": back}, status=403)
