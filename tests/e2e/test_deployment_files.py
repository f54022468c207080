"""docker-compose.yml cannot run on CI machines: it must run what CI runs natively, unchanged.

The dashboard's services run the bin/ scripts that test_production_processes.py starts, and
Redis the command .ci/run starts (less the flags that only make sense outside a container).
The image installs every package of the repository, and the Makefile type-checks each.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib

import pytest
from setuptools import find_packages

from .conftest import ROOT

SCRIPTS = ("simulator", "web", "worker", "beat")
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def compose_command(service: str) -> list[str]:
    block = re.search(rf"^  {service}:\n((?:    .*\n|\s*\n)+)", COMPOSE, re.MULTILINE)
    assert block, f"no service {service} in docker-compose.yml"
    command = re.search(r"^    command: (\[.*\])$", block.group(1), re.MULTILINE)
    assert command, f"service {service} has no one-line command"
    return json.loads(command.group(1))


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_process_is_one_script(name: str) -> None:
    script = ROOT / "bin" / name
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in text
    assert re.search(r"^exec ", text, re.MULTILINE), "the process replaces the shell"
    subprocess.run(["/bin/sh", "-n", str(script)], check=True)
    assert compose_command(name) == [f"bin/{name}"]


def test_redis_runs_as_in_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    line = next(line for line in ci.splitlines() if line.strip().startswith("redis-server "))
    argv = shlex.split(line)
    native_only = {"--daemonize", "--bind", "--port"}
    kept = [
        arg
        for i, arg in enumerate(argv)
        if arg not in native_only and (i == 0 or argv[i - 1] not in native_only)
    ]
    assert compose_command("redis") == kept


def test_image_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM python:3.11-slim\n") == 1
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0")


def top_level_packages() -> set[str]:
    """The repository's packages (its tests aside), as folders with an ``__init__.py``."""
    return {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}


def test_installing_the_project_installs_every_package() -> None:
    # The Dockerfile's `pip install .` takes what pyproject.toml's find-include names.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {name.split(".")[0] for name in find_packages(str(ROOT), include=include)}
    assert sorted(top_level_packages() - installed) == []
    assert sorted(installed - top_level_packages()) == []


def test_the_type_check_covers_every_package() -> None:
    makefile = (ROOT / "Makefile").read_text()
    typed = re.search(r"^TYPED := (.*)$", makefile, re.MULTILINE)
    assert typed, "the Makefile names what mypy checks in TYPED"
    assert sorted(top_level_packages() - set(typed.group(1).split())) == []
