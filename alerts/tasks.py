"""Celery's view of the alert jobs: each task is one call to a plain function."""

from celery import shared_task

from alerts.reports import run_shift_ends
from alerts.sending import deliver_due


@shared_task(name="alerts.deliver", ignore_result=True)
def deliver() -> None:
    deliver_due()


@shared_task(name="alerts.shift_end", ignore_result=True)
def shift_end() -> None:
    run_shift_ends()
