from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "kpis"

    def ready(self) -> None:
        from kpis.jobs import CWORK_FIGURES_JOB
        from kpis.tally import count_parts
        from stations.jobs import register
        from stations.signals import poll_rows_written

        # The tallies are written in the live poll's transaction: see kpis.tally.
        poll_rows_written.connect(count_parts, weak=False, dispatch_uid="kpis:count-parts")
        register(CWORK_FIGURES_JOB)
