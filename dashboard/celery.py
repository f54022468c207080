"""The Celery app: configured from Django's settings; the schedule is ``dashboard.schedule``."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _install_schedule(sender: Celery, **_: object) -> None:
    from dashboard.schedule import beat_schedule

    sender.conf.beat_schedule = beat_schedule()


@worker_ready.connect
def _warn_about_settings(**_: object) -> None:
    """The worker sends the e-mails but runs no management command: its own start-up says
    what the system checks found (a SITE_URL left unset)."""
    from dashboard.checks import log_warnings

    log_warnings()
