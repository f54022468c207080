"""Alert rules and webhooks in the admin (the same checks as the managers' pages); the alerts,
their deliveries and the reports sent are history: read, never added, changed or deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from alerts import engine
from alerts.forms import (
    BaseLevelFormSet,
    LevelForm,
    RuleForm,
    WebhookForm,
    masked_url,
)
from alerts.models import (
    MAX_LEVELS,
    Alert,
    AlertRule,
    Delivery,
    EscalationLevel,
    ReportSubscription,
    ShiftReport,
    Webhook,
)
from alerts.services import save_levels
from core.admin import HistoryAdmin


class LevelInline(admin.StackedInline):
    model = EscalationLevel
    form = LevelForm
    formset = BaseLevelFormSet
    extra = 0
    max_num = MAX_LEVELS


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = RuleForm
    inlines = (LevelInline,)
    list_display = ("name", "condition", "enabled", "minutes", "threshold_percent", "updated_at")
    list_filter = ("enabled", "condition")
    search_fields = ("name",)
    readonly_fields = ("created_by", "updated_at")

    def save_model(self, request, obj: AlertRule, form: Any, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form: Any, formset: Any, change: bool) -> None:
        if formset.model is EscalationLevel:
            save_levels(formset, form.instance)
        else:
            super().save_formset(request, form, formset, change)

    def save_related(self, request, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        engine.forget_cached()

    def delete_model(self, request, obj: AlertRule) -> None:
        super().delete_model(request, obj)
        engine.forget_cached()


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("name", "shown_url", "format", "enabled")
    list_filter = ("format", "enabled")
    search_fields = ("name",)

    @admin.display(description=_("URL"))
    def shown_url(self, obj: Webhook) -> str:
        return masked_url(obj.url)

    def get_fields(self, request: HttpRequest, obj: Webhook | None = None) -> tuple[str, ...]:
        fields = ("name", "url", "format", "secret", "enabled")
        return (*fields, "clear_secret") if obj is not None else fields


@admin.register(Alert)
class AlertAdmin(HistoryAdmin):
    list_display = (
        "since",
        "rule",
        "station",
        "status",
        "fired_at",
        "resolved_at",
        "level",
        "suppressed",
        "summary",
    )
    list_filter = ("status", "suppressed", "rule")
    search_fields = ("summary", "station__name", "rule__name")
    date_hierarchy = "since"
    list_select_related = ("rule", "station")


@admin.register(Delivery)
class DeliveryAdmin(HistoryAdmin):
    list_display = (
        "created_at",
        "kind",
        "channel",
        "recipient",
        "level",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("status", "kind", "channel")
    search_fields = ("recipient", "last_error")
    date_hierarchy = "created_at"


@admin.register(ShiftReport)
class ShiftReportAdmin(HistoryAdmin):
    list_display = ("shift_start", "workshop", "shift_key", "created_at", "resent_by")
    list_filter = ("workshop",)
    date_hierarchy = "shift_start"


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("workshop", "user")
    list_filter = ("workshop",)
    search_fields = ("workshop", "user__username", "user__email")
