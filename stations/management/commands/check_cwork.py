"""``manage.py check_cwork``: can the dashboard talk to CWork, and if not, what to change."""

from __future__ import annotations

import textwrap
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from stations.diagnostics import Check, Status, Target, has_failed, run_checks

#: Terminal width the explanations are wrapped to.
WIDTH = 100


class Command(BaseCommand):
    # Lazy: translated when the help is shown. django-stubs types ``help`` as str only.
    help = gettext_lazy(  # type: ignore[assignment]
        "Check the connection to CWork (address, TLS, API key, API version, licences, "
        "stations) and say what to change when something is wrong. Exits with status 1 when a "
        "check failed."
    )
    # A connection check must run even when unrelated system checks fail.
    requires_system_checks = ()

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", help=gettext("CWork address to check instead of CWORK_URL."))
        parser.add_argument("--api-key", help=gettext("API key to check instead of CWORK_API_KEY."))

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target.from_settings(url=options["url"], api_key=options["api_key"])
        self.stdout.write(gettext("Checking CWork at %(url)s") % {"url": target.url})
        checks = run_checks(target)
        for check in checks:
            self.stdout.write(self._line(check))
        if has_failed(checks):
            failed = sum(1 for check in checks if check.status is Status.FAILED)
            raise CommandError(
                ngettext("%(count)d check failed.", "%(count)d checks failed.", failed)
                % {"count": failed}
            )
        warnings = sum(1 for check in checks if check.status is Status.WARNING)
        if warnings:
            summary = ngettext(
                "No check failed; %(count)d warning.",
                "No check failed; %(count)d warnings.",
                warnings,
            ) % {"count": warnings}
        else:
            summary = gettext("All checks passed.")
        self.stdout.write(summary)

    def _line(self, check: Check) -> str:
        style = {
            Status.OK: self.style.SUCCESS,
            Status.WARNING: self.style.WARNING,
            Status.FAILED: self.style.ERROR,
        }[check.status]
        indent = " " * 9
        text = textwrap.fill(
            f"{check.name}: {check.message}",
            width=WIDTH,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        return style(f"{check.status.value:<8}") + " " + text[len(indent) :]
