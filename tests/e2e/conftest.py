"""The production processes as real subprocesses, on real PostgreSQL and Redis.

These fixtures never touch Django's own database settings: they create a PostgreSQL database
of their own and give every process its environment explicitly, so the tests run the same
whether the suite itself runs embedded (SQLite) or against PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
import pytest
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
#: Redis database of these tests alone (the CI pass against Redis uses 1).
REDIS_DB = 3
#: All the processes get from the test's environment: none of the suite's settings leak in.
PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "TMPDIR")


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the service must be running)", pytrace=False)
    pytest.skip(reason)


def pg_connect(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3, autocommit=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    _file: IO[bytes] = field(repr=False)

    def tail(self, lines: int = 60) -> str:
        self._file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class Processes:
    """Started in their own process groups, so a stop reaches every child they made."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.running: list[Process] = []

    def start(self, name: str, *argv: str) -> Process:
        log = self.logs / f"{name}.log"
        file = log.open("wb")
        try:
            popen = subprocess.Popen(
                [str(ROOT / "bin" / name), *argv],
                cwd=ROOT,
                env=self.env,
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
        for process in self.running:
            if process.popen.poll() is not None:
                pytest.fail(
                    f"{process.name} exited with status {process.popen.returncode}",
                    pytrace=False,
                )

    def report(self) -> str:
        return "\n".join(
            f"----- {p.name} (pid {p.popen.pid}, {self._status(p)}), last lines -----\n{p.tail()}"
            for p in self.running
        )

    @staticmethod
    def _status(process: Process) -> str:
        code = process.popen.poll()
        return "running" if code is None else f"exited {code}"

    def stop_all(self, timeout: float = 10.0) -> None:
        for process in self.running:
            self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(0.1, deadline - time.monotonic()))
        for process in self.running:
            # Whatever is left in the group (a child that outlived its parent) goes too.
            self._signal(process, signal.SIGKILL)
            process.popen.wait()
            process._file.close()

    def leftovers(self, timeout: float = 5.0) -> list[str]:
        """The processes whose group still has a member, once given time to be reaped."""
        deadline = time.monotonic() + timeout
        while True:
            alive = [p.name for p in self.running if self._group_alive(p.popen.pid)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True

    @staticmethod
    def _signal(process: Process, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, sig)


@pytest.fixture(scope="module")
def services() -> None:
    try:
        with pg_connect():
            pass
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}: {exc}")
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}: {exc}")


@pytest.fixture(scope="module")
def e2e_database(services: None) -> Iterator[str]:
    """A database of this test run alone, dropped afterwards."""
    name = f"dashboard_e2e_{secrets.token_hex(4)}"
    with pg_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with pg_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def e2e_redis(services: None) -> Iterator[tuple[str, str]]:
    """The Redis URL and a key prefix of this run; its keys are deleted afterwards."""
    prefix = f"e2e-{secrets.token_hex(4)}"
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}", prefix
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def process_env(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    # The project's interpreter first, as `.venv/bin` is natively and the image's python is.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env.update(PYTHONUNBUFFERED="1", DATA_DIR=str(data_dir), **values)
    return env


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed test shows the end of every subprocess's output."""
    report = yield
    processes: Processes | None = getattr(item, "e2e_processes", None)
    if report.failed and processes is not None and processes.running:
        report.sections.append(("subprocess output", processes.report()))
    return report
