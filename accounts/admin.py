"""Users with their profile: the stations they are limited to and their own CWork API key.

Roles are the groups on the user's page (made by migration ``0002_roles``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.forms import ThrottledAdminAuthenticationForm
from accounts.models import Profile
from stations.models import Station

# The admin's own login is throttled like the dashboard's.
admin.site.login_form = ThrottledAdminAuthenticationForm


def workshop_choices(current: list[str] | tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The stations' workshops, and any the profile names that no station has any more."""
    known = set(Station.objects.exclude(workshop="").values_list("workshop", flat=True))
    return [(name, name) for name in sorted(known | {w for w in current if w})]


class ProfileForm(forms.ModelForm):
    workshops = forms.MultipleChoiceField(
        label=_("workshops"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Limited to these workshops and the stations below; none: every station."),
    )
    cwork_api_key = forms.CharField(
        label=_("CWork API key"),
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Left blank, the stored key is kept."),
    )
    clear_cwork_api_key = forms.BooleanField(label=_("Remove the CWork API key"), required=False)

    class Meta:
        model = Profile
        fields = ("workshops", "stations", "cwork_api_key", "language")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = list(self.instance.workshops or []) if self.instance.pk else []
        workshops = self.fields["workshops"]
        assert isinstance(workshops, forms.ChoiceField)
        workshops.choices = workshop_choices(current)
        self.initial["workshops"] = current
        self.initial["cwork_api_key"] = ""
        if self.instance.pk and self.instance.cwork_api_key:
            self.fields["cwork_api_key"].help_text = _(
                "A key is stored (••••%(end)s). Left blank, it is kept."
            ) % {"end": self.instance.cwork_api_key[-2:]}

    def clean_workshops(self) -> list[str]:
        return sorted(set(self.cleaned_data["workshops"]))

    def clean_cwork_api_key(self) -> str:
        typed = self.cleaned_data.get("cwork_api_key", "").strip()
        return typed or (self.instance.cwork_api_key if self.instance.pk else "")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("clear_cwork_api_key"):
            cleaned["cwork_api_key"] = ""
        return cleaned


class ProfileInline(admin.StackedInline):
    model = Profile
    form = ProfileForm
    can_delete = False
    filter_horizontal = ("stations",)
    fields = ("workshops", "stations", "cwork_api_key", "clear_cwork_api_key", "language")
    verbose_name_plural = _("profile")


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ProfileUserAdmin(UserAdmin):
    inlines = (ProfileInline,)
