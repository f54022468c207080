"""The production processes as real subprocesses, on real PostgreSQL and Redis.

These fixtures never touch Django's own database settings: they create a PostgreSQL database
of their own and give every process its environment explicitly, so the tests run the same
whether the suite itself runs embedded (SQLite) or against PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from devtools import processes
from devtools.processes import Process
from devtools.processes import free_port as free_port  # for the tests

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


class Processes(processes.Processes):
    """The bin/ scripts docker-compose.yml runs; a dead one fails the test."""

    def start(self, name: str, *argv: str) -> Process:  # type: ignore[override]
        return super().start(name, [str(ROOT / "bin" / name), *argv])

    def check_alive(self) -> None:
        try:
            super().check_alive()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)


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
