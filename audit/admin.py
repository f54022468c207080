"""The audit trail in the admin: to read and filter, never to add, change or delete."""

from django.contrib import admin

from audit.models import ActionAttempt
from core.admin import HistoryAdmin


@admin.register(ActionAttempt)
class ActionAttemptAdmin(HistoryAdmin):
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
