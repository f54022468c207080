"""The KPI app's job runs on the ingest's runner, registered by kpis: stations knows no KPI."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from dashboard.schedule import beat_schedule
from kpis.figures import sync_cwork_figures
from kpis.jobs import CWORK_FIGURES
from stations.health import ingest_health
from stations.jobs import JOBS, run_job
from stations.models import PollRecord, SyncKind


def test_the_kpi_job_is_registered_with_the_ingest_and_scheduled_under_its_old_name():
    assert list(JOBS)[: len(SyncKind)] == list(SyncKind)
    job = JOBS[CWORK_FIGURES]
    assert job.run is sync_cwork_figures
    assert (job.interval_setting, job.needs_catalogue) == ("KPI_SYNC_INTERVAL", True)
    # The value its runs were always recorded under, and the task beat always sent.
    assert CWORK_FIGURES == "kpis"
    assert "stations.kpis" in beat_schedule()


@pytest.mark.django_db
def test_its_runs_are_recorded_named_and_checked_like_the_ingest_s_own(cwork, clock, client):
    result = run_job(CWORK_FIGURES, client=cwork, now=clock(), publish=lambda e: None)
    assert result.ran
    assert PollRecord.objects.filter(kind="kpis").count() == 1
    assert "kpis" in ingest_health(clock()).kinds
    PollRecord.objects.create(kind="kpis", started_at=timezone.now(), duration=1.0, ok=True)
    PollRecord(kind="kpis", started_at=timezone.now(), duration=1.0, ok=True).full_clean()
    admin = get_user_model().objects.create_superuser("root", password="x" * 12)
    client.force_login(admin)
    page = client.get("/admin/stations/pollrecord/").content.decode()
    assert "CWork&#x27;s KPIs per shift" in page


def test_a_kind_no_app_registered_is_a_clear_error():
    with pytest.raises(ValueError, match="no job 'weather'"):
        run_job("weather")
