"""System checks for settings that start fine but do the wrong thing.

Django runs them with ``manage.py check`` (and ``check --deploy``) and before ``migrate``, so
``bin/web`` prints them before daphne starts; ``bin/worker``, which sends the e-mails, logs
them once when it is ready (``dashboard.celery``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register, run_checks
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

#: The tag of the dashboard's own checks.
TAG = "dashboard"


@register(TAG)
def site_url_check(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """Production mails links to SITE_URL: left at its default, they point at localhost."""
    if not settings.PRODUCTION or settings.SITE_URL_IS_SET:
        return []
    return [
        Warning(
            _(
                "SITE_URL is not set: links in alert and report e-mails and webhooks point "
                "at %(url)s."
            )
            % {"url": settings.SITE_URL},
            hint=_("Set SITE_URL to the address people open, e.g. https://wall.plant.example."),
            id="dashboard.W001",
        )
    ]


@register(TAG)
def https_proxy_check(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """Redirecting to HTTPS behind a proxy nobody trusts redirects forever: daphne serves plain
    HTTP, and the proxy's X-Forwarded-Proto is not believed."""
    if not settings.SECURE_SSL_REDIRECT or settings.TRUSTED_PROXIES:
        return []
    return [
        Warning(
            _(
                "SECURE_SSL_REDIRECT is on but TRUSTED_PROXIES is empty: requests that came "
                "through an HTTPS proxy look like plain HTTP and are redirected again and again."
            ),
            hint=_(
                "Set TRUSTED_PROXIES to the HTTPS proxy's address; with no proxy, set "
                "SECURE_COOKIES and SECURE_SSL_REDIRECT to false."
            ),
            id="dashboard.W002",
        )
    ]


def log_warnings() -> None:
    """Log the dashboard's checks that fail, for a process that runs no management command."""
    for message in run_checks(tags=[TAG]):
        logger.warning("%s", message)
