"""htmx requests that are refused or need a login say so where the user is looking.

Without this, htmx swaps nothing on a 403 and swaps the login page itself into a panel after
a redirect: the tap does nothing visible, or something absurd. Here an htmx request whose
answer is "log in first" (a redirect to the login page, or a 401/403 for an anonymous user,
such as a session that expired or a CSRF token that died with it) becomes a 401 with a
message and a login link back to the page the user is on (``HX-Current-URL``, not the
fragment's URL); a 403 for a logged-in user (a role lowered meanwhile) becomes a plain
refusal. Both carry ``X-Refusal`` so that ``static/dashboard/refusals.js`` shows the fragment
next to the form without replacing it: what the user typed stays.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers

from core.htmx import HtmxHttpRequest

#: The header naming the kind of refusal ("login" or "forbidden"); the page's script looks
#: for it to tell our fragments from any other error page.
REFUSAL_HEADER = "X-Refusal"
REDIRECTS = (301, 302, 303, 307, 308)
#: What django-htmx's HttpResponseClientRedirect sets.
CLIENT_REDIRECT = "HX-Redirect"


def _login_path() -> str:
    return urlsplit(resolve_url(settings.LOGIN_URL)).path


def _asks_for_login(response: HttpResponse) -> bool:
    """A redirect (plain or htmx's) to the login page."""
    if response.status_code in REDIRECTS:
        target = response.get("Location", "")
    else:
        target = response.get(CLIENT_REDIRECT, "")
    return bool(target) and urlsplit(target).path == _login_path()


def return_path(request: HtmxHttpRequest) -> str:
    """Where to come back after logging in: the page the user is on when htmx says which
    (same origin only), else this URL for a GET, else home."""
    current = request.htmx.current_url_abs_path if request.htmx else None
    if current and current.startswith("/") and not current.startswith("//"):
        return current
    if request.method == "GET":
        return request.get_full_path()
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def login_needed(request: HtmxHttpRequest) -> HttpResponse:
    """401: not done, log in again, and come back to this page."""
    login = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': return_path(request)})}"
    body = render_to_string(
        "dashboard/_refusal.html",
        {"kind": "login", "login_url": login, "write": request.method != "GET"},
        request=request,
    )
    return _refusal(body, 401, "login")


def forbidden(request: HttpRequest) -> HttpResponse:
    """403: this user may no longer do (or see) this."""
    body = render_to_string(
        "dashboard/_refusal.html",
        {"kind": "forbidden", "write": request.method != "GET"},
        request=request,
    )
    return _refusal(body, 403, "forbidden")


def _refusal(body: str, status: int, kind: str) -> HttpResponse:
    response = HttpResponse(body, status=status)
    response[REFUSAL_HEADER] = kind
    response["Cache-Control"] = "no-store"
    # htmx would swap nothing on an error anyway; this says so to any other reader.
    response["HX-Reswap"] = "none"
    if status == 401:
        # A login form, not HTTP authentication: say which scheme, as a 401 must.
        response["WWW-Authenticate"] = 'FormBased realm="dashboard"'
    patch_vary_headers(response, ("HX-Request",))
    return response


class HtmxRefusalMiddleware:
    """Turns "log in first" and "not allowed" answers to htmx requests into messages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HtmxHttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.has_header(REFUSAL_HEADER):
            return response
        user = getattr(request, "user", None)
        anonymous = user is None or not user.is_authenticated
        if _asks_for_login(response) or (anonymous and response.status_code in (401, 403)):
            return login_needed(request)
        if response.status_code == 403:
            return forbidden(request)
        return response
