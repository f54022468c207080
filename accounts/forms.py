"""Login forms that refuse a user name or an address after too many failed logins."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import ngettext

from accounts import throttle


class ThrottledLoginMixin:
    """Checks the throttle before the password, and counts each failure."""

    #: Minutes to wait before trying again, when this attempt was refused for that.
    retry_minutes: int = 0

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = throttle.client_address(self.request) if self.request else ""
        wait = throttle.blocked_for(username, address)
        if wait:
            self.retry_minutes = max(1, -(-wait // 60))
            raise forms.ValidationError(self.throttled_message(), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(username, address)
            raise
        throttle.clear(username)
        return cleaned

    def throttled_message(self) -> str:
        return ngettext(
            "Too many failed attempts. Try again in %(minutes)d minute.",
            "Too many failed attempts. Try again in %(minutes)d minutes.",
            self.retry_minutes,
        ) % {"minutes": self.retry_minutes}


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
