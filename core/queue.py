"""Asking for a scheduled task to run now rather than at its next turn, by whatever runs this
deployment's tasks, never in the caller's thread.

- Embedded (``runembedded``): the scheduler's own thread for the task, woken early (the
  scheduler registers itself here while it runs).
- With a broker (Redis): a Celery worker. The task is sent by its name and dropped unless a
  worker starts it within ``expires`` seconds: by then its scheduled runs did the same work.
- Neither, or with ``CELERY_TASK_ALWAYS_EAGER`` (a shell, a management command, the test
  suite): nothing else would run it, so :func:`run_soon` says so and the caller runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

#: The embedded scheduler's ``wake`` while it runs in this process.
_scheduler: Callable[[str], bool] | None = None


def use_scheduler(wake: Callable[[str], bool] | None) -> None:
    """The in-process scheduler's ``wake(task) -> bool``, or None once it stops."""
    global _scheduler
    _scheduler = wake


def run_soon(task: str, *, expires: float) -> bool:
    """Have ``task`` (a Celery task's name, as in ``dashboard.schedule``) run at once
    elsewhere; False when nothing would (the caller then runs it itself)."""
    wake = _scheduler
    if wake is not None:
        return wake(task)
    if settings.CELERY_TASK_ALWAYS_EAGER or settings.CELERY_BROKER_URL.startswith("memory:"):
        return False
    try:
        current_app.send_task(task, expires=expires)
    except Exception:  # the broker is down: the caller does it rather than nobody
        logger.exception("%s could not be queued", task)
        return False
    return True
