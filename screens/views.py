"""Kiosk screens: their management (staff only) and the enrolment of a TV by its link.

Every action is a POST with a CSRF token and works without JavaScript (the page is rendered
again, or redirected to); htmx swaps just the screen's rows instead. An enrolment link is
shown in the one response that issued it, and never again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import languages
from core.htmx import HtmxHttpRequest
from screens import services
from screens.forms import ScreenForm
from screens.models import Screen

View = Callable[..., HttpResponse]


def _see_other(url: str) -> HttpResponseRedirect:
    """A redirect that turns a POST into a GET (and keeps it out of the history)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def staff_required(view: View) -> View:
    """Anonymous users are sent to log in; logged-in users who are not staff get a 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            # After logging in, come back to the list: a POST cannot be replayed.
            target = request.get_full_path() if request.method == "GET" else _list_url()
            # An htmx request gets a message and a login link instead (dashboard.refusals).
            return redirect_to_login(target)
        if not user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _list_url() -> str:
    return reverse("screens:list")


def _page(
    request: HtmxHttpRequest,
    *,
    form: ScreenForm | None = None,
    enrolment: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The management page, or only its body for htmx (which swaps ``#screens-page``)."""
    context = {
        "screens": Screen.objects.all(),
        "form": form or ScreenForm(),
        "enrolment": enrolment,
        "validity_days": services.ENROLMENT_VALIDITY.days,
    }
    template = "screens/_page.html" if request.htmx else "screens/list.html"
    return render(request, template, context, status=status)


def _enrolment(request: HttpRequest, screen: Screen, token: str) -> dict[str, Any]:
    url = request.build_absolute_uri(reverse("screens:enrol", args=[token]))
    return {"screen": screen, "url": url, "expires_at": screen.enrolment_expires_at}


def _row(
    request: HtmxHttpRequest, screen: Screen, note: str, *, error: bool = False
) -> HttpResponse:
    """The screen's rows for htmx; without JavaScript, back to the list with a message."""
    if request.htmx:
        return render(
            request, "screens/_screen.html", {"screen": screen, "note": note, "error": error}
        )
    (messages.error if error else messages.success)(request, note)
    return _see_other(_list_url())


@require_GET
@never_cache
@staff_required
def screen_list(request: HtmxHttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@never_cache
@staff_required
def create(request: HtmxHttpRequest) -> HttpResponse:
    form = ScreenForm(request.POST)
    if form.is_valid():
        try:
            screen, token = services.create_screen(
                form.cleaned_data["name"],
                form.filters,
                form.cleaned_data["rotation_seconds"],
                request.user,
                language=form.cleaned_data["language"],
            )
        except (ValidationError, IntegrityError):
            form.add_error("name", _("A screen with this name already exists."))
        else:
            return _page(request, enrolment=_enrolment(request, screen, token))
    # htmx swaps only successful answers: the form's errors come back as a 200.
    return _page(request, form=form, status=200 if request.htmx else 400)


@require_POST
@never_cache
@staff_required
def new_link(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    screen = get_object_or_404(Screen, pk=pk)
    try:
        token = services.new_enrolment_link(screen)
    except services.ScreenRevoked:
        return _row(
            request,
            screen,
            _("%(name)s is revoked: create a new screen instead.") % {"name": screen.name},
            error=True,
        )
    return _page(request, enrolment=_enrolment(request, screen, token))


def _unreachable(screen: Screen) -> str:
    return _("%(name)s could not be reached: the message was not sent.") % {"name": screen.name}


@require_POST
@never_cache
@staff_required
def identify(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    screen = get_object_or_404(Screen, pk=pk, revoked_at=None)
    if services.identify(screen):
        note = _("%(name)s shows its name now, if it is on.") % {"name": screen.name}
        return _row(request, screen, note)
    return _row(request, screen, _unreachable(screen), error=True)


@require_POST
@never_cache
@staff_required
def reload(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    screen = get_object_or_404(Screen, pk=pk, revoked_at=None)
    if services.reload(screen):
        note = _("%(name)s reloads now, if it is on.") % {"name": screen.name}
        return _row(request, screen, note)
    return _row(request, screen, _unreachable(screen), error=True)


@require_POST
@never_cache
@staff_required
def revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    screen = get_object_or_404(Screen, pk=pk)
    services.revoke(screen)
    note = _("%(name)s is revoked: it stopped showing the wall.") % {"name": screen.name}
    return _row(request, screen, note)


@require_POST
@never_cache
@staff_required
def delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    screen = get_object_or_404(Screen, pk=pk)
    if screen.revoked_at is None:
        return _row(request, screen, _("Revoke a screen before deleting it."), error=True)
    name = screen.name
    services.delete_screen(screen)
    if request.htmx:
        return HttpResponse("")  # the screen's rows are replaced by nothing
    messages.success(request, _("%(name)s is deleted.") % {"name": name})
    return _see_other(_list_url())


def _enrolment_headers(response: HttpResponse) -> HttpResponse:
    # The token is in this page's URL: keep it out of other sites' referrers and out of
    # search engines. Not "no-referrer": the browser would then post the confirmation with
    # ``Origin: null``, which CSRF protection rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_http_methods(["GET", "POST"])
@never_cache
def enrol(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for a confirmation (link previews must not use the token up); POST enrols.

    Whoever holds the link may enrol: the link is the authorisation, no login is needed.
    """
    try:
        if request.method == "POST":
            screen, secret = services.enrol(token)
        else:
            screen = services.enrolment_screen(token)
    except services.EnrolmentError as error:
        return _enrolment_headers(_enrolment_refused(request, error))
    if request.method == "GET":
        # The confirmation shows on the screen itself: in the language it will show walls in.
        language = languages.chosen_or_plant(screen.language)
        with translation.override(language):
            page = render(request, "screens/enrol.html", {"screen": screen})
        page["Content-Language"] = language
        return _enrolment_headers(page)
    response = _see_other(reverse("wall"))
    response.set_cookie(
        services.DEVICE_COOKIE,
        secret,
        max_age=services.DEVICE_COOKIE_MAX_AGE,
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return _enrolment_headers(response)


def _enrolment_refused(request: HttpRequest, error: services.EnrolmentError) -> HttpResponse:
    if isinstance(error, services.ExpiredToken):
        reason = _("This enrolment link has expired.")
    elif isinstance(error, services.ScreenRevoked):
        reason = _("The screen of this enrolment link was revoked.")
    else:
        reason = _(
            "This enrolment link does not work: it was already used, a newer link replaced "
            "it, or it is incomplete."
        )
    return render(
        request,
        "screens/enrol_error.html",
        {"reason": reason},
        status=410 if error.gone else 400,
    )


def enrolment_form_refused(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation failed its CSRF check (a stale page, cookies dropped): the link is not
    used up, so the screen is told to open it again, in the language it would show walls in."""
    try:
        language = languages.chosen_or_plant(services.enrolment_screen(token).language)
    except services.EnrolmentError:
        language = translation.get_language()
    with translation.override(language):
        page = render(request, "screens/enrol_stale.html", {"link": request.path}, status=403)
    page["Content-Language"] = language
    return _enrolment_headers(page)
