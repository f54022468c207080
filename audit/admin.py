"""The audit trail in the admin: to read and filter, never to add, change or delete."""

from django.contrib import admin

from audit.models import ActionAttempt


@admin.register(ActionAttempt)
class ActionAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "username",
        "station",
        "action",
        "outcome",
        "cwork_code",
        "duration",
    )
    list_filter = ("outcome", "action", "started_at", "station")
    search_fields = ("username", "cwork_message", "idempotency_key")
    date_hierarchy = "started_at"
    list_select_related = ("station",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
