"""``manage.py runembedded``: the whole dashboard in one process (``make run``)."""

from __future__ import annotations

import daphne.server
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from core import realtime
from dashboard import embedded
from dashboard.scheduler import EmbeddedScheduler


class Command(BaseCommand):
    help = "Run the dashboard, its scheduler and (with no CWORK_URL) the simulator together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--websocket-timeout",
            type=int,
            default=86400,
            help="Seconds before the server closes a WebSocket (the page reconnects).",
        )

    def handle(
        self, *args: object, host: str, port: int, websocket_timeout: int, **options: object
    ) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                _(
                    "runembedded is the single-process mode: with DATABASE_URL set, run the web, "
                    "worker and beat processes (bin/web, bin/worker, bin/beat)."
                )
            )
        embedded.prepare_database()
        login = embedded.demo_login()
        simulator = None
        if settings.EMBEDDED_SIMULATOR:
            try:
                simulator = embedded.start_simulator()
            except OSError as exc:
                raise CommandError(
                    _(
                        "The simulator cannot listen on 127.0.0.1:%(port)s (%(error)s). Set "
                        "SIMULATOR_PORT to a free port, or CWORK_URL to a real CWork."
                    )
                    % {"port": settings.SIMULATOR_PORT, "error": exc}
                ) from exc
        if not settings.SITE_URL_IS_SET:  # the links in e-mails go where this serves
            settings.SITE_URL = embedded.served_url(host, port)
        self._print_welcome(host, port, login, simulator is not None)

        from dashboard.asgi import application

        realtime.use_event_loop(daphne.server.twisted_loop)
        scheduler = EmbeddedScheduler()
        scheduler.start()
        try:
            daphne.server.Server(
                application=application,
                endpoints=[f"tcp:port={port}:interface={host}"],
                signal_handlers=True,
                websocket_timeout=websocket_timeout,
            ).run()
        finally:
            scheduler.stop()
            if simulator is not None:
                simulator.stop()

    def _print_welcome(
        self, host: str, port: int, login: embedded.DemoLogin, simulated: bool
    ) -> None:
        out = self.stdout
        out.write(
            self.style.SUCCESS(
                _("Dashboard: http://%(host)s:%(port)s/") % {"host": host, "port": port}
            )
        )
        if login.username and login.password:
            out.write(
                _("  log in as %(user)s with password %(password)s")
                % {"user": login.username, "password": login.password}
            )
        elif login.username:
            out.write(
                _("  log in as %(user)s (its password was changed)") % {"user": login.username}
            )
        if simulated:
            url = f"http://127.0.0.1:{settings.SIMULATOR_PORT}"
            out.write(
                _("Simulated CWork: %(url)s, API key %(key)s. Try:")
                % {"url": url, "key": settings.CWORK_API_KEY}
            )
            out.write(
                f"  curl -s -u {settings.CWORK_API_KEY}: "
                f"-H 'Accept: application/json+v1.16' {url}/station_statuses"
            )
        else:
            out.write(_("CWork: %(url)s") % {"url": settings.CWORK_URL})
        if settings.SITE_URL_IS_SET or host not in embedded.EVERY_INTERFACE:
            out.write(_("Links in e-mails: %(url)s") % {"url": settings.SITE_URL})
        else:
            out.write(
                _(
                    "Links in e-mails: %(url)s (this machine's name: set SITE_URL if people "
                    "open another address)"
                )
                % {"url": settings.SITE_URL}
            )
        out.write(
            _("Polling every %(seconds)g s. Stop with Ctrl+C.")
            % {"seconds": settings.POLL_INTERVAL}
        )
