"""Screens in the admin: read-mostly. Creating, enrolling and revoking happen on the screens
page (which shows each enrolment link once); the secrets' hashes are never shown."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from screens import services
from screens.models import Screen


@admin.register(Screen)
class ScreenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "workshop",
        "mdc_group",
        "dnc_group",
        "rotation_seconds",
        "online",
        "last_seen_at",
        "enrolled_at",
        "revoked_at",
    )
    list_filter = ("workshop", "mdc_group", "dnc_group")
    search_fields = ("name",)
    fields = (
        "name",
        "workshop",
        "mdc_group",
        "dnc_group",
        "rotation_seconds",
        "language",
        "created_by",
        "created_at",
        "enrolment_expires_at",
        "enrolled_at",
        "revoked_at",
        "last_seen_at",
        "connected_sockets",
    )
    readonly_fields = (
        "created_by",
        "created_at",
        "enrolment_expires_at",
        "enrolled_at",
        "revoked_at",
        "last_seen_at",
        "connected_sockets",
    )

    @admin.display(boolean=True, description=_("online"))
    def online(self, obj: Screen) -> bool:
        return obj.is_online

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # the screens page creates them, and shows the enrolment link

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and obj.revoked_at is None:
            services.reload(obj)  # its open pages pick up the new filters at once

    def delete_model(self, request, obj) -> None:
        services.delete_screen(obj)

    def delete_queryset(self, request, queryset) -> None:
        for screen in queryset:
            services.delete_screen(screen)
