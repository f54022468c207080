from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from screens.models import (
    DEFAULT_ROTATION_SECONDS,
    FILTER_FIELDS,
    MAX_ROTATION_SECONDS,
    MIN_ROTATION_SECONDS,
    Screen,
)
from stations.models import Station


def filter_values() -> dict[str, list[str]]:
    """The values each filter can take: those of the stations CWork reports now."""
    stations = Station.objects.filter(present_in_cwork=True).order_by()
    mdc: set[str] = set()
    for groups in stations.values_list("mdc_groups", flat=True):
        mdc.update(str(g) for g in groups or [] if g)
    return {
        "workshop": _distinct(stations.values_list("workshop", flat=True)),
        "mdc_group": sorted(mdc),
        "dnc_group": _distinct(stations.values_list("dnc_group", flat=True)),
    }


def _distinct(values: Iterable[str]) -> list[str]:
    return sorted({v for v in values if v})


class ScreenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    workshop = forms.ChoiceField(label=_("Workshop"), required=False)
    mdc_group = forms.ChoiceField(label=_("MDC group"), required=False)
    dnc_group = forms.ChoiceField(label=_("DNC group"), required=False)
    rotation_seconds = forms.IntegerField(
        label=_("Seconds per page"),
        min_value=MIN_ROTATION_SECONDS,
        max_value=MAX_ROTATION_SECONDS,
        initial=DEFAULT_ROTATION_SECONDS,
        help_text=_("When the stations do not fit on one page, pages take turns."),
    )
    language = forms.ChoiceField(label=_("Language"), required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, values in filter_values().items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", _("all")), *((v, v) for v in values)]
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)
        language.choices = [("", _("default")), *settings.LANGUAGES]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the screen a name."))
        if Screen.objects.filter(name=name).exists():
            raise forms.ValidationError(_("A screen with this name already exists."))
        return name

    @property
    def filters(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in FILTER_FIELDS}
