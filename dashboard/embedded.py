"""The embedded run: everything in one process, for a demo or a small shop.

SQLite, the in-process channel layer, the embedded scheduler and (unless ``CWORK_URL`` is
set) the simulator, around daphne. Production runs the same functions in separate processes.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from kpis.demo import create_simulator_calendars
from screens import services as screens
from simulator import Simulator
from simulator.server import SimulatorServer

DEMO_USER = "demo"
#: Hosts that mean "every interface": no one opens them, the machine's name stands in.
EVERY_INTERFACE = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    #: Empty when the password was changed since it was generated (it is not ours to show).
    password: str


def prepare_database() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    screens.reset_socket_counts()


def demo_login(data_dir: Path | None = None) -> DemoLogin:
    """Create the demo user on first run; its generated password is kept beside the database.

    The password file is only shown while it still matches: once someone changes the demo
    user's password, the dashboard stops printing the old one.
    """
    users = get_user_model()
    path = (data_dir or Path(settings.DATA_DIR)) / "demo-password"
    user = users.objects.filter(username=DEMO_USER).first()
    if user is None:
        if users.objects.exists():  # a real deployment's users: never add a demo account
            return DemoLogin("", "")
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(DEMO_USER, password=password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password)
        path.chmod(0o600)
        return DemoLogin(DEMO_USER, password)
    password = path.read_text().strip() if path.exists() else ""
    return DemoLogin(DEMO_USER, password if password and user.check_password(password) else "")


def start_simulator(host: str = "127.0.0.1") -> SimulatorServer:
    simulator = Simulator(
        stations=settings.SIMULATOR_STATIONS,
        speed=settings.SIMULATOR_SPEED,
        tz=settings.TIME_ZONE,
        api_keys=(settings.CWORK_API_KEY,),
    )
    # The demo's KPIs follow the simulator's shifts (left alone once any calendar exists).
    create_simulator_calendars(sorted({s.workshop for s in simulator.world.stations}))
    return simulator.serve(host, settings.SIMULATOR_PORT)


def served_url(host: str, port: int) -> str:
    """The address ``runembedded --host --port`` serves, as a link in an e-mail: on every
    interface (``0.0.0.0``, ``::``), under this machine's host name."""
    if host in EVERY_INTERFACE:
        host = socket.gethostname() or "localhost"
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"
