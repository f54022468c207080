"""Compile the translation catalogues (``locale/*/LC_MESSAGES/*.po`` → ``.mo``).

Django's ``compilemessages`` needs GNU gettext's ``msgfmt``, which a fresh machine or a slim
image may not have: polib does the same in Python, so ``make run``, ``make test`` and the
image build compile the catalogues wherever they run. A catalogue with an empty or fuzzy
entry is still compiled (English shows for that string) but named, so a build log says so.
"""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


def compile_catalogues(paths: list[Path] | None = None) -> list[tuple[Path, int]]:
    """Every catalogue under ``LOCALE_PATHS`` compiled next to itself; (path, entries left
    untranslated or fuzzy) for each."""
    found = []
    for root in paths or [Path(p) for p in settings.LOCALE_PATHS]:
        for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
            catalogue = polib.pofile(str(po_path))
            catalogue.save_as_mofile(str(po_path.with_suffix(".mo")))
            missing = len(catalogue.untranslated_entries()) + len(catalogue.fuzzy_entries())
            found.append((po_path, missing))
    return found


class Command(BaseCommand):
    help = "Compile the translation catalogues (.po → .mo) without GNU gettext."

    def handle(self, *args: object, **options: object) -> None:
        for path, missing in compile_catalogues():
            note = f" ({missing} entries not translated)" if missing else ""
            self.stdout.write(f"compiled {path}{note}")
