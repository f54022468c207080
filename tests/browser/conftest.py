"""A real browser against real processes: the CWork simulator, the embedded dashboard, Chromium.

The simulator runs as its own process so a test can kill it and start it again on the same
port with the same seed; the dashboard runs as ``make run`` does, pointed at it. Every process
gets a clean environment and its own process group, and is killed (group and all) at teardown.
A failed test shows the end of each process's output and what the page logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devtools.processes import ROOT, Process, Processes, free_port, listening
from tests.dashboard.test_settings import clean_environment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_KEY = "demo-key"
STATIONS = 12
SEED = 7
#: Seconds between live polls (POLL_INTERVAL of the dashboard under test).
POLL_INTERVAL = 1.0
#: Seconds after which daphne closes every WebSocket (the page must reconnect by itself).
WEBSOCKET_TIMEOUT = 8
TV = {"width": 1920, "height": 1080}
TABLET = {"width": 1024, "height": 768}

#: Recorded in the page before any of its scripts run: every open and close of the wall's
#: socket as htmx's ws extension reports it, with the close code, in the page's own clock.
SOCKET_LOG_SCRIPT = """
window.__sockets = [];
document.addEventListener("htmx:wsOpen", function () {
  window.__sockets.push({type: "open", at: Date.now()});
});
window.__socketMessages = 0;
document.addEventListener("htmx:wsAfterMessage", function () {
  window.__socketMessages += 1;
});
document.addEventListener("htmx:wsClose", function (evt) {
  var e = evt.detail.event;
  window.__sockets.push({type: "close", at: Date.now(), code: e.code, reason: e.reason,
                         clean: e.wasClean});
});
"""


#: Resolves once the socket's first message (the grid's snapshot) is swapped in and the page
#: has laid it out (two animation frames later).
SNAPSHOT_SHOWN = """
() => (window.__socketMessages || 0) > 0
"""


def wait_for_snapshot(page: Any, timeout: float = 10.0) -> None:
    """Until the wall's socket has brought its snapshot and the page has drawn it."""
    page.wait_for_function(SNAPSHOT_SHOWN, timeout=timeout * 1000)
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing browser is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: it must be installed)", pytrace=False)
    pytest.skip(reason)


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Stack:
    """The simulator and the embedded dashboard on free loopback ports."""

    def __init__(self, workdir: Path, stations: int = STATIONS) -> None:
        self.workdir = workdir
        #: How many stations the simulated factory has (and every wall shows).
        self.stations = stations
        self.data_dir = workdir / "data"
        self.data_dir.mkdir()
        self.sim_port = free_port()
        self.web_port = free_port()
        env = clean_environment(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        self.processes = Processes(workdir, env)
        self.simulator: Process | None = None
        self.dashboard: Process | None = None
        self.password = ""

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_simulator(self, timeout: float = 20.0) -> None:
        """The simulator on its port, always with the same seed: the same factory each time."""
        argv = [sys.executable, "-m", "simulator"]
        argv += ["--host", "127.0.0.1", "--port", str(self.sim_port)]
        argv += ["--stations", str(self.stations), "--seed", str(SEED), "--api-key", API_KEY]
        argv += ["--history-days", "2"]  # a short past: quick to start and to back-fill
        self.simulator = self.processes.start("simulator", argv)
        deadline = time.monotonic() + timeout
        while not listening(self.sim_port):
            if self.simulator.popen.poll() is not None:
                self.fail(f"the simulator exited: {self.simulator.status()}")
            if time.monotonic() > deadline:
                self.fail(f"the simulator did not listen within {timeout:g} s")
            time.sleep(0.05)

    def kill_simulator(self) -> None:
        assert self.simulator is not None
        self.simulator.kill()
        self.simulator = None

    @property
    def dashboard_env(self) -> dict[str, str]:
        """What the dashboard's process adds to the clean environment."""
        return {
            "CWORK_URL": self.sim_url,
            "CWORK_API_KEY": API_KEY,
            "POLL_INTERVAL": f"{POLL_INTERVAL:g}",
            "HISTORY_BACKFILL_DAYS": "1",
        }

    def start_dashboard(self, timeout: float = 60.0) -> None:
        argv = [sys.executable, "manage.py", "runembedded"]
        argv += ["--host", "127.0.0.1", "--port", str(self.web_port)]
        argv += ["--websocket-timeout", str(WEBSOCKET_TIMEOUT)]
        self.dashboard = self.processes.start("runembedded", argv, self.dashboard_env)
        deadline = time.monotonic() + timeout
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.dashboard.popen.poll() is not None:
                self.fail(f"runembedded exited: {self.dashboard.status()}")
            if not self.password:
                found = re.search(r"log in as demo with password (\S+)", self.dashboard.output())
                self.password = found.group(1) if found else ""
            if self.password and listening(self.web_port):
                status, health = get_json(f"{self.web_url}/health")
                if status == 200 and health.get("status") == "ok":
                    return
            time.sleep(0.2)
        self.fail(
            f"the dashboard was not fresh within {timeout:g} s (password seen: "
            f"{bool(self.password)}, last health: {health})"
        )

    def manage(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """``manage.py`` against the running dashboard's data, with its clean environment;
        fails with the command's output if it does not succeed."""
        argv = [sys.executable, "manage.py", *args]
        result = subprocess.run(
            argv,
            cwd=ROOT,
            env={**self.processes.env, **self.dashboard_env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            self.fail(
                f"manage.py {args[0]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def fail(self, reason: str) -> None:
        """Fail with every process's output: a fixture's failure has no report section."""
        pytest.fail(f"{reason}\n{self.report()}", pytrace=False)

    def report(self) -> str:
        return self.processes.report()

    def stop_all(self) -> None:
        self.processes.stop_all()


@dataclass
class Socket:
    """One WebSocket the page opened, as Playwright saw it."""

    url: str
    created: float
    closed: float | None = None
    snapshot: bool = False


@dataclass
class Wall:
    """The logged-in wall page, with what it logged and the sockets it opened."""

    page: Any
    console: list[str] = field(default_factory=list)
    sockets: list[Socket] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"[pageerror] {exc}"))
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        record = Socket(ws.url, time.monotonic())
        self.sockets.append(record)

        def closed(_: Any) -> None:
            record.closed = time.monotonic()

        def frame(payload: str | bytes) -> None:
            if isinstance(payload, str) and 'id="wall-grid"' in payload:
                record.snapshot = True

        ws.on("close", closed)
        ws.on("framereceived", frame)

    def socket_log(self) -> list[dict[str, Any]]:
        return self.page.evaluate("window.__sockets || []")

    def report(self) -> str:
        lines = [*self.console[-80:], "----- sockets (htmx events) -----"]
        with contextlib.suppress(Exception):
            lines += [json.dumps(entry) for entry in self.socket_log()]
        return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def chromium_path() -> Path:
    """Checked before any process starts."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    return CHROMIUM


@contextlib.contextmanager
def started_stack(
    tmp_path_factory: pytest.TempPathFactory,
    stations: int = STATIONS,
    prepare: Callable[[Stack], None] | None = None,
) -> Iterator[Stack]:
    """The simulator and the dashboard started, stopped on leaving; ``prepare`` runs in
    between, once the simulator answers and before the dashboard starts (``Stack.manage``
    against its data)."""
    processes = Stack(tmp_path_factory.mktemp("browser"), stations=stations)
    try:
        processes.start_simulator()
        if prepare is not None:
            prepare(processes)
        processes.start_dashboard()
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with started_stack(tmp_path_factory) as processes:
        yield processes


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def logged_in_as(
    browser: Any, stack: Stack, username: str, password: str, viewport: dict[str, int]
) -> Iterator[Wall]:
    """A page of a fresh browser session logged in as ``username`` (on its audit trail), its
    console kept for a failure's report."""
    ctx = browser.new_context(viewport=viewport, base_url=stack.web_url)
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        watched = Wall(page)
        watched.watch(page)
        page.goto("/login/?next=/audit/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/audit/", timeout=15_000)
        yield watched
    finally:
        ctx.close()


@contextlib.contextmanager
def logged_in(browser: Any, stack: Stack, **options: Any) -> Iterator[Any]:
    """A browser session logged in as the demo user (``options``: the context's, such as
    its time zone)."""
    ctx = browser.new_context(viewport=TV, base_url=stack.web_url, **options)
    ctx.set_default_timeout(15_000)
    ctx.add_init_script(SOCKET_LOG_SCRIPT)
    page = ctx.new_page()
    page.goto("/login/?next=/wall/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", stack.password)
    page.click("button[type=submit]")
    page.wait_for_url("**/wall/")
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def context(browser: Any, stack: Stack) -> Iterator[Any]:
    with logged_in(browser, stack) as ctx:
        yield ctx


def open_wall(context: Any, viewport: dict[str, int], tiles: int = STATIONS) -> Wall:
    """The wall at ``viewport``, once it shows ``tiles`` tiles (the stack's stations)."""
    page = context.new_page()
    page.set_viewport_size(viewport)
    wall = Wall(page)
    wall.watch(page)
    page.goto("/wall/")
    page.wait_for_function(
        "n => document.querySelectorAll('#wall-grid > li.tile').length === n",
        arg=tiles,
        timeout=15_000,
    )
    return wall


@pytest.fixture(scope="module")
def wall(context: Any) -> Wall:
    """The wall on a TV (1920×1080), opened once and never reloaded by the tests."""
    return open_wall(context, TV)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed test shows the end of every process's output and what the page logged."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        stack = funcargs.get("stack")
        if isinstance(stack, Stack) and stack.processes.running:
            report.sections.append(("subprocess output", stack.report()))
        for name, value in funcargs.items():
            if isinstance(value, Wall):  # the wall and any other watched page
                title = "browser console" if name == "wall" else f"browser console ({name})"
                report.sections.append((title, value.report()))
    return report
