"""A real nginx in front of a real daphne, configured as the README says.

The dashboard runs as the browser tests start it (``runembedded`` with the simulator as its
own process); nginx runs in the foreground as a child of the test, with a configuration, a
prefix and temporary folders of its own, and the README's ``map`` and ``location`` blocks
verbatim. Every client here connects from 127.0.0.1, the proxy's own address: each stands for
a different person by the ``X-Forwarded-For`` it sends, which nginx passes on with 127.0.0.1
added (``$proxy_add_x_forwarded_for``), as it would add a real client's address.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from devtools.processes import ROOT, free_port, listening
from tests.browser.conftest import Stack, unavailable

pytestmark = pytest.mark.slow

NGINX = Path("/usr/sbin/nginx")
#: Failed logins allowed per client address here (20 in production): a short test.
FAILURES = 3
#: Where the README's nginx example sends requests: daphne on bin/web's default port.
README_UPSTREAM = "http://127.0.0.1:8000"


def readme_nginx() -> tuple[str, str]:
    """The README's nginx example: its ``map`` block and its ``location /`` block."""
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"^```nginx\n(.*?)^```", readme, re.S | re.M)
    assert example, "the README has no nginx example"
    mapping = re.search(r"^map .*?^\}\n", example.group(1), re.S | re.M)
    location = re.search(r"^    location / \{\n.*?^    \}\n", example.group(1), re.S | re.M)
    assert mapping, "the README's nginx example lost its map block"
    assert location, "the README's nginx example lost its location block"
    assert f"proxy_pass {README_UPSTREAM};" in location.group(0)
    return mapping.group(0), location.group(0)


def nginx_config(workdir: Path, port: int, upstream_port: int) -> str:
    mapping, location = readme_nginx()
    location = location.replace(README_UPSTREAM, f"http://127.0.0.1:{upstream_port}")
    return f"""\
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log stderr notice;
events {{
    worker_connections 64;
}}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;

{mapping}
    server {{
        listen 127.0.0.1:{port};
{location}    }}
}}
"""


class ProxiedStack(Stack):
    """The simulator and the embedded dashboard, with nginx in front of the dashboard."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.proxy_port = free_port()
        #: What the dashboard's next start adds to its environment.
        self.environ: dict[str, str] = {}

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def dashboard_env(self) -> dict[str, str]:
        return {
            **super().dashboard_env,
            "LOGIN_FAILURES_PER_ADDRESS": str(FAILURES),
            **self.environ,
        }

    def start_nginx(self, timeout: float = 20.0) -> None:
        workdir = self.workdir / "nginx"
        workdir.mkdir()
        config = workdir / "nginx.conf"
        config.write_text(nginx_config(workdir, self.proxy_port, self.web_port))
        argv = [str(NGINX), "-p", f"{workdir}/", "-c", str(config), "-e", "stderr"]
        nginx = self.processes.start("nginx", argv)
        deadline = time.monotonic() + timeout
        while not listening(self.proxy_port):
            if nginx.popen.poll() is not None:
                self.fail(f"nginx exited: {nginx.status()}")
            if time.monotonic() > deadline:
                self.fail(f"nginx did not listen within {timeout:g} s")
            time.sleep(0.05)

    def serve(self, **environ: str) -> None:
        """(Re)start the dashboard with ``environ``: its login failures start from none."""
        if self.dashboard is not None:
            self.dashboard.kill()
            self.dashboard = None
        self.environ = environ
        self.start_dashboard()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedStack]:
    if not NGINX.exists():
        unavailable(f"nginx is not installed at {NGINX}")
    stack = ProxiedStack(tmp_path_factory.mktemp("proxy"))
    try:
        stack.start_simulator()
        stack.start_nginx()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(autouse=True)
def _report_processes(request: pytest.FixtureRequest, stack: ProxiedStack) -> None:
    """A failed test shows the end of nginx's, the dashboard's and the simulator's output."""
    request.node.e2e_processes = stack.processes


def log_in(url: str, forwarded_for: str, username: str, password: str) -> httpx.Response:
    """One person's login through ``url``, arriving with ``forwarded_for``: 302 when logged in,
    200 when refused, 429 when locked out."""
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=url, headers=headers, timeout=15) as http:
        page = http.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        data = {"username": username, "password": password, "csrfmiddlewaretoken": token[1]}
        return http.post("/login/", data=data)


def test_through_the_proxy_one_client_is_locked_out_and_not_the_others(stack: ProxiedStack):
    stack.serve(TRUSTED_PROXIES="127.0.0.1")
    mallory, alice = "203.0.113.7", "203.0.113.8"
    for n in range(FAILURES):
        assert log_in(stack.proxy_url, mallory, f"nobody-{n}", "guess").status_code == 200
    assert log_in(stack.proxy_url, mallory, "demo", stack.password).status_code == 429

    logged_in = log_in(stack.proxy_url, alice, "demo", stack.password)
    assert logged_in.status_code == 302
    # Her wall's WebSocket goes through the same proxy.
    with connect(
        stack.proxy_url.replace("http://", "ws://") + "/ws/wall/",
        origin=Origin(stack.proxy_url),
        additional_headers={"Cookie": f"sessionid={logged_in.cookies['sessionid']}"},
        open_timeout=10,
    ) as socket:
        assert 'id="wall-grid"' in str(socket.recv(timeout=15))


def test_with_no_trusted_proxy_a_forged_header_is_ignored(stack: ProxiedStack):
    stack.serve()  # TRUSTED_PROXIES unset
    for n in range(FAILURES):  # each failure claims another address, straight to daphne
        forged = f"198.51.100.{n}"
        assert log_in(stack.web_url, forged, f"nobody-{n}", "guess").status_code == 200
    assert log_in(stack.web_url, "198.51.100.99", "demo", stack.password).status_code == 429
    # Through the proxy too, everyone is 127.0.0.1, locked out with the forger.
    assert log_in(stack.proxy_url, "203.0.113.8", "demo", stack.password).status_code == 429
