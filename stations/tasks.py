"""Celery's view of the ingest jobs: each task is one call to ``run_job``. Other apps' jobs
have their tasks in their own ``tasks`` modules (``kpis.tasks``)."""

from celery import shared_task

from stations.jobs import prune_poll_records, run_job
from stations.models import SyncKind


@shared_task(name="stations.live", ignore_result=True)
def poll_live() -> None:
    run_job(SyncKind.LIVE)


@shared_task(name="stations.catalogue", ignore_result=True)
def sync_catalogue() -> None:
    run_job(SyncKind.CATALOGUE)


@shared_task(name="stations.history", ignore_result=True)
def sync_history() -> None:
    run_job(SyncKind.HISTORY)


@shared_task(name="stations.orders", ignore_result=True)
def sync_orders() -> None:
    run_job(SyncKind.ORDERS)


@shared_task(name="stations.prune", ignore_result=True)
def prune() -> None:
    prune_poll_records()
