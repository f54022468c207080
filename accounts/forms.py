"""Login forms that refuse a user name or an address after too many failed logins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import get_language_info, gettext, ngettext

from accounts import throttle
from accounts.models import Profile
from core.proxies import client_address

if TYPE_CHECKING:
    _LoginForm = AuthenticationForm  # what the mixin is mixed into, for the type checker
else:
    _LoginForm = object


class ThrottledLoginMixin(_LoginForm):
    """Checks the throttle before the password, and counts each failure."""

    #: Minutes to wait before trying again, when this attempt was refused for that.
    retry_minutes: int = 0

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request) if self.request else ""
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


def language_choices() -> list[tuple[str, str]]:
    """Each language in its own name, so a reader finds theirs whatever the page's language."""
    plant = get_language_info(settings.LANGUAGE_CODE)["name_local"]
    return [
        ("", gettext("The plant's language (%(name)s)") % {"name": plant}),
        *((code, get_language_info(code)["name_local"]) for code, _name in settings.LANGUAGES),
    ]


class PreferencesForm(forms.ModelForm):
    """What a user sets for themselves: the language of their pages and walls."""

    class Meta:
        model = Profile
        fields = ("language",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)
        language.choices = language_choices()
        language.widget.attrs["aria-describedby"] = "language-help"
