"""The product ships in French: the catalogue holds every string of the source, each one
translated, and the French pages show no English left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from html import unescape
from pathlib import Path

import polib
import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from dashboard.management.commands.compiletranslations import compile_catalogues
from stations.jobs import run_job
from stations.models import Station

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
#: Source folders whose strings are the product's (tests and benchmarks are not shown).
SOURCES = (
    "accounts",
    "actions",
    "alerts",
    "audit",
    "core",
    "cwork",
    "dashboard",
    "kpis",
    "screens",
    "stations",
)


def french() -> polib.POFile:
    return polib.pofile(str(CATALOGUE))


def test_every_string_is_translated_and_none_is_fuzzy():
    catalogue = french()
    assert len(catalogue) > 500
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []
    assert catalogue.metadata.get("Language") == "fr"


def test_translations_keep_their_placeholders():
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]+\}")
    wrong = [
        (e.msgid, e.msgstr)
        for e in french()
        if e.msgstr
        and sorted(placeholder.findall(e.msgid)) != sorted(placeholder.findall(e.msgstr))
    ]
    assert wrong == []


def test_the_catalogue_compiles_without_gnu_gettext(tmp_path):
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    [(path, missing)] = compile_catalogues([tmp_path / "locale"])
    assert missing == 0
    compiled = polib.mofile(str(path.with_suffix(".mo")))
    assert len(compiled) == len(french().translated_entries())


def test_the_catalogue_holds_every_string_of_the_source(tmp_path):
    """A string marked in the code but missing from the catalogue fails here (run
    ``manage.py makemessages -l fr`` and translate it)."""
    if shutil.which("xgettext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xgettext (GNU gettext) is missing (CI=true: it must be installed)")
        pytest.skip("xgettext (GNU gettext) is not installed")
    for name in (*SOURCES, "templates"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    (tmp_path / "locale").mkdir()
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "-v", "0"],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=300,
    )
    found = {e.msgid for e in polib.pofile(str(tmp_path / "locale/fr/LC_MESSAGES/django.po"))}
    missing = sorted(found - {e.msgid for e in french()})
    assert missing == []


def english_left(html: str, catalogue: polib.POFile) -> list[str]:
    """English source strings (two words or more, translated differently) found in the text
    of a page."""
    text = unescape(re.sub(r"<[^>]+>", "\n", re.sub(r"(?s)<(script|style).*?</\1>", "", html)))
    lines = {" ".join(line.split()) for line in text.splitlines() if line.strip()}
    return sorted(
        e.msgid
        for e in catalogue
        if e.msgstr != e.msgid  # the same in both languages: nothing to catch
        and " " in e.msgid
        and "%" not in e.msgid
        and "{" not in e.msgid
        and e.msgid in lines
    )


@pytest.mark.django_db
def test_the_pages_in_french_leave_no_english_behind(client, cwork, clock, settings):
    settings.LANGUAGE_CODE = "fr"
    run_job("live", client=cwork, now=clock(), publish=lambda event: None)
    station = Station.objects.first()
    assert station is not None
    admin = get_user_model().objects.create_superuser("chef", "chef@plant.example", "x" * 12)
    catalogue = french()
    with translation.override("fr"):
        login = client.get("/login/")
        assert "Mot de passe" in login.content.decode()
        assert english_left(login.content.decode(), catalogue) == []
        client.force_login(admin)
        pages = [
            "/wall/",
            "/stations/",
            f"/stations/{station.pk}/",
            "/kpis/review/",
            "/audit/",
            "/screens/",
            "/alerts/",
            "/alerts/new/",
            "/alerts/webhooks/",
            "/alerts/reports/",
            "/preferences/",
        ]
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, path
            assert english_left(response.content.decode(), catalogue) == [], path
        # The norm's French names, with their definitions.
        review = client.get("/kpis/review/").content.decode()
        trs = "TRS — taux de rendement synthétique : temps utile sur temps requis"
        assert f'<abbr title="{trs}">TRS</abbr>' in review
        assert ">DO</abbr>" in review or "DO —" in review
        # A form sent back with errors says so in French too.
        refused = client.post("/alerts/new/", {"name": "", "idempotency_key": uuid.uuid4().hex})
        assert english_left(refused.content.decode(), catalogue) == []
