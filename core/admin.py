"""What the project's admin pages share."""

from __future__ import annotations

from django.contrib import admin


class HistoryAdmin(admin.ModelAdmin):
    """Records of what happened (audit trail, alerts, messages): shown, never edited."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
