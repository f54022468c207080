from __future__ import annotations

from django.contrib.auth import views as auth_views

from accounts.forms import ThrottledAuthenticationForm


class LoginView(auth_views.LoginView):
    """Django's login, refusing with 429 after too many failed attempts."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_minutes:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_minutes * 60)
        return response
