from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation

from accounts.forms import PreferencesForm, ThrottledAuthenticationForm
from accounts.languages import user_language
from accounts.profiles import profile_of


class LoginView(auth_views.LoginView):
    """Django's login, refusing with 429 after too many failed attempts."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_minutes:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_minutes * 60)
        return response


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """The user's own settings. Saving switches this very page to the chosen language."""
    user = request.user
    assert user.is_authenticated  # login_required
    form = PreferencesForm(request.POST or None, instance=profile_of(user))
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        # ``request.user.profile`` was read (with the old language) before the save.
        user.profile = saved
        translation.activate(user_language(user))
        messages.success(request, translation.gettext("Your preferences are saved."))
        return redirect("preferences")
    return render(request, "accounts/preferences.html", {"form": form})
