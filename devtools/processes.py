"""Real processes for the end-to-end tests, the browser tests and the benchmarks.

Each process runs in its own process group, so a stop reaches every child it made (daphne's
workers, a script's interpreter), and writes its output to a log file of its own, so a failing
test or run can show the end of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The repository: every process runs from here, as ``make`` and the bin/ scripts do.
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick, so parallel runs do not clash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Process:
    """A started process and the log file its output (stdout and stderr) goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    file: IO[bytes] = field(repr=False)

    def output(self) -> str:
        """Everything it wrote so far."""
        if not self.file.closed:
            self.file.flush()
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def status(self) -> str:
        code = self.popen.poll()
        return "running" if code is None else f"exited {code}"

    def kill(self) -> None:
        """The whole process group, at once (a crash, not a shutdown)."""
        _killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.file.close()


class Processes:
    """Processes started with one environment, each in its own process group and log file.

    As a context manager, they are stopped on leaving the block, and if it failed the end of
    each one's output goes to stderr first.
    """

    def __init__(self, logs: Path, env: Mapping[str, str]) -> None:
        self.logs = logs
        self.env = dict(env)
        self.running: list[Process] = []

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Process:
        """Start ``argv`` (the full command) from the repository; ``env`` adds to the
        environment for this process alone. A name started again gets a log of its own."""
        restarts = sum(p.name == name for p in self.running)
        log = self.logs / (f"{name}-{restarts}.log" if restarts else f"{name}.log")
        file = log.open("wb")
        try:
            popen = subprocess.Popen(  # noqa: S603 - the callers' own scripts and interpreter
                list(argv),
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            file.close()
            raise
        process = Process(name, popen, log, file)
        self.running.append(process)
        return process

    def check_alive(self) -> None:
        """Raise ``RuntimeError`` (with the end of its output) if any of them has exited."""
        for process in self.running:
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"{process.name} exited with status {process.popen.returncode}:\n"
                    f"{process.tail()}"
                )

    def report(self) -> str:
        """The end of every process's output, for a failure's report."""
        return "\n".join(
            f"----- {p.name} (pid {p.popen.pid}, {p.status()}), last lines -----\n{p.tail()}"
            for p in self.running
        )

    def stop_all(self, timeout: float = 10.0) -> None:
        """TERM to every group, up to ``timeout`` seconds to exit, then KILL to what is left."""
        for process in self.running:
            _killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(0.1, deadline - time.monotonic()))
        for process in self.running:
            # Whatever is left in the group (a child that outlived its parent) goes too.
            _killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()
            process.file.close()

    def leftovers(self, timeout: float = 5.0) -> list[str]:
        """The processes whose group still has a member, once given time to be reaped."""
        deadline = time.monotonic() + timeout
        while True:
            alive = [p.name for p in self.running if _group_alive(p.popen.pid)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None and self.running:
            print(self.report(), file=sys.stderr)
        self.stop_all()


def wait_until(what: str, check: Callable[[], Any], processes: Processes, timeout: float) -> Any:
    """Poll ``check`` until it returns something truthy; raise if a process dies meanwhile
    (``RuntimeError``) or the time is up (``TimeoutError``)."""
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def simulator_answers(url: str, api_key: str) -> bool:
    """The simulator (or a CWork) is up and accepts ``api_key``."""
    from cwork.client import CWorkClient

    try:
        with CWorkClient(url, api_key, retries=0) as client:
            client.states()
    except Exception:
        return False
    return True


def _killpg(pgid: int, sig: signal.Signals) -> None:
    # Gone already, or the group id reused by someone else's process: nothing of ours left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
