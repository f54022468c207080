"""Read-mostly admin pages: what CWork sent and how each poll went, for operators."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from stations.models import (
    AlarmInterval,
    LiveStatus,
    Operation,
    Order,
    PollRecord,
    ProgramRun,
    State,
    Station,
    SyncState,
    Top,
)


class FromCWork(admin.ModelAdmin):
    """Rows mirrored from CWork: changed there, not here (the next sync would undo it)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Station)
class StationAdmin(FromCWork):
    list_display = ("name", "cwork_id", "workshop", "dnc_group", "disabled", "present_in_cwork")
    list_filter = ("workshop", "dnc_group", "disabled", "present_in_cwork")
    search_fields = ("name", "description", "cwork_id")


@admin.register(State)
class StateAdmin(FromCWork):
    """CWork's states (kpis' admin adds where the KPIs count each one's time)."""

    list_display: tuple[str, ...] = (
        "name",
        "cwork_id",
        "color",
        "oee_category",
        "parent",
        "close_day",
        "prod_percent",
        "use_percent",
        "archived",
    )
    list_filter = ("oee_category", "archived")
    search_fields = ("name",)
    actions = ("mark_archived", "unmark_archived")

    @admin.action(description=_("Mark as archived in CWork (no longer offered)"))
    def mark_archived(self, request, queryset) -> None:
        """CWork's state list does not say which reasons are archived: an admin can."""
        count = queryset.update(archived=True)
        self.message_user(request, _("%(count)d reasons hidden from the lists.") % {"count": count})

    @admin.action(description=_("Offer again (not archived in CWork)"))
    def unmark_archived(self, request, queryset) -> None:
        count = queryset.update(archived=False)
        self.message_user(request, _("%(count)d reasons offered again.") % {"count": count})


@admin.register(LiveStatus)
class LiveStatusAdmin(FromCWork):
    list_display = ("station", "state", "since", "parts_since_reset", "changed_at", "missing_since")
    list_select_related = ("station", "state")


@admin.register(Top)
class TopAdmin(FromCWork):
    list_display = ("station", "state", "start", "end", "comment")
    list_filter = ("state",)
    date_hierarchy = "start"
    list_select_related = ("station", "state")


@admin.register(AlarmInterval)
class AlarmAdmin(FromCWork):
    list_display = ("station", "code", "message", "start", "end")
    search_fields = ("code", "message")
    date_hierarchy = "start"
    list_select_related = ("station",)


@admin.register(ProgramRun)
class ProgramRunAdmin(FromCWork):
    list_display = ("station", "kind", "name", "start", "end", "provisional")
    list_filter = ("kind", "provisional")
    search_fields = ("name",)
    list_select_related = ("station",)


@admin.register(Order)
class OrderAdmin(FromCWork):
    list_display = ("name", "cwork_id", "part_reference", "client", "current_state", "archived")
    search_fields = ("name", "part_reference", "client")


@admin.register(Operation)
class OperationAdmin(FromCWork):
    list_display = ("name", "order", "station", "parts_made", "parts_to_make", "cycle_time")
    list_select_related = ("order", "station")


@admin.register(PollRecord)
class PollRecordAdmin(FromCWork):
    list_display = (
        "kind",
        "started_at",
        "duration",
        "ok",
        "stations_seen",
        "stations_changed",
        "rows_written",
        "error",
    )
    list_filter = ("kind", "ok")
    date_hierarchy = "started_at"


@admin.register(SyncState)
class SyncStateAdmin(admin.ModelAdmin):
    """Clearing ``retry_at`` here makes a backing-off job try again at its next turn."""

    list_display = ("kind", "failures", "retry_at", "unavailable", "last_error")
    fields = ("kind", "failures", "retry_at", "unavailable", "last_error")
    readonly_fields = ("kind", "failures", "unavailable", "last_error")

    def has_add_permission(self, request, obj=None) -> bool:
        return False
