"""The shift calendars and the state mapping are set here; counted parts and CWork's figures
are shown read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin import workshop_choices
from kpis.mapping import bucket_of, state_buckets
from kpis.models import (
    Break,
    Calendar,
    CalendarException,
    CWorkFigures,
    PartTally,
    Shift,
    StateBucket,
)
from stations.admin import FromCWork
from stations.admin import StateAdmin as CWorkStateAdmin
from stations.models import State


class ShiftInline(admin.TabularInline):
    model = Shift
    extra = 0
    show_change_link = True  # its breaks are edited on the shift's own page


class ExceptionInline(admin.TabularInline):
    model = CalendarException
    extra = 0


class CalendarForm(forms.ModelForm):
    workshops = forms.MultipleChoiceField(
        label=_("workshops"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("CWork workshops that follow this calendar."),
    )

    class Meta:
        model = Calendar
        fields = ("name", "is_default", "workshops")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = list(self.instance.workshops or []) if self.instance.pk else []
        workshops = self.fields["workshops"]
        assert isinstance(workshops, forms.ChoiceField)
        workshops.choices = workshop_choices(current)
        self.initial["workshops"] = current

    def clean_workshops(self) -> list[str]:
        return sorted(set(self.cleaned_data["workshops"]))


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    form = CalendarForm
    list_display = ("name", "is_default", "workshop_list")
    inlines = (ShiftInline, ExceptionInline)

    @admin.display(description=_("workshops"))
    def workshop_list(self, obj: Calendar) -> str:
        return ", ".join(obj.workshops)


class BreakInline(admin.TabularInline):
    model = Break
    extra = 0


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ("name", "calendar", "start", "end", "monday", "saturday", "sunday")
    list_filter = ("calendar",)
    inlines = (BreakInline,)


@admin.register(StateBucket)
class StateBucketAdmin(admin.ModelAdmin):
    """Only the states a shop counts differently; every other state follows its CWork OEE
    category (the states' admin page, :class:`StateAdmin`, shows where each one's time
    goes)."""

    list_display = ("state_cwork_id", "state_name", "bucket")

    @admin.display(description=_("state"))
    def state_name(self, obj: StateBucket) -> str:
        state = State.objects.filter(cwork_id=obj.state_cwork_id).first()
        return state.name if state else "?"


# CWork's states as stations' admin shows them, with the bucket each one's time goes to.
admin.site.unregister(State)


@admin.register(State)
class StateAdmin(CWorkStateAdmin):
    """CWork's states, and where the KPIs count each one's time (after its OEE category)."""

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = list(super().get_list_display(request))
        columns.insert(columns.index("oee_category") + 1, "counts_as")
        return columns

    @admin.display(description=_("counts in the KPIs as"))
    def counts_as(self, obj: State) -> str:
        """The shop's mapping (the state mappings below) or the default from the OEE
        category."""
        bucket = bucket_of(state_buckets(), obj.cwork_id)
        return str(StateBucket(bucket=bucket.value).get_bucket_display())


@admin.register(PartTally)
class PartTallyAdmin(FromCWork):
    list_display = ("station", "slot", "order", "job", "reference", "parts", "cycle_time")
    list_select_related = ("station",)
    date_hierarchy = "slot"


@admin.register(CWorkFigures)
class CWorkFiguresAdmin(FromCWork):
    list_display = ("station", "start", "end", "until", "fetched_at")
    list_select_related = ("station",)
    date_hierarchy = "start"
