"""Celery's view of the KPI refreshes: each task is one call to a plain function."""

from celery import shared_task

from kpis.current import TASK_NAME, publish_current_shift
from kpis.jobs import CWORK_FIGURES
from stations.jobs import run_job


@shared_task(name=TASK_NAME, ignore_result=True)
def current_shift() -> None:
    publish_current_shift()


#: The schedule names every job's task ``stations.<kind>`` (``dashboard.schedule``).
@shared_task(name=f"stations.{CWORK_FIGURES}", ignore_result=True)
def sync_cwork_figures() -> None:
    run_job(CWORK_FIGURES)
