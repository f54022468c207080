"""Celery's view of the KPI refreshes: each task is one call to a plain function."""

from celery import shared_task

from kpis.current import TASK_NAME, publish_current_shift


@shared_task(name=TASK_NAME, ignore_result=True)
def current_shift() -> None:
    publish_current_shift()
