"""The KPI app's job on the ingest's runner: CWork's own figures per station and shift
(``kpis.figures``), registered from ``kpis.apps`` with ``stations.jobs.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from kpis.figures import sync_cwork_figures
from stations.jobs import Job

#: What its runs are recorded under: the value stored since it was one of the ingest's own.
CWORK_FIGURES = "kpis"

CWORK_FIGURES_JOB = Job(
    CWORK_FIGURES,
    _("CWork's KPIs per shift"),
    sync_cwork_figures,
    "KPI_SYNC_INTERVAL",
    lock_ttl=600,
    needs_catalogue=True,
)
