from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts and reports")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from alerts.engine import after_poll, rules_changed
        from alerts.models import AlertRule, EscalationLevel
        from stations.signals import poll_committed

        # The rules are evaluated after every live poll, on the data it just committed.
        poll_committed.connect(after_poll, weak=False, dispatch_uid="alerts:after-poll")

        def changed(**kwargs) -> None:
            rules_changed()

        # Whatever edits a rule (its page, the admin, a shell), the pollers see it next cycle.
        for model in (AlertRule, EscalationLevel):
            post_save.connect(
                changed, sender=model, weak=False, dispatch_uid=f"alerts:{model.__name__}:save"
            )
            post_delete.connect(
                changed, sender=model, weak=False, dispatch_uid=f"alerts:{model.__name__}:delete"
            )
        for relation in (AlertRule.states, AlertRule.stations, AlertRule.shifts):
            m2m_changed.connect(changed, sender=relation.through, weak=False)
