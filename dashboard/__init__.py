"""The Django project: settings, ASGI application, Celery app, URLs and routing."""

from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
