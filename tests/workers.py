"""Each pytest-xdist worker gets its own Redis database and key prefix, so one worker's
``cache.clear()`` (a FLUSHDB) or channel group never reaches the other's tests. Workers take
databases 10 and up: the end-to-end tests use 3 and the lock tests 4, under prefixes of their
own that a FLUSHDB would wipe. The cache and the channel layer connect on first use, so
rewriting the settings before the first test is enough."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FIRST_WORKER_DATABASE = 10


def isolate_worker(settings: Any, worker: str | None = None) -> None:
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not settings.REDIS_URL:
        return
    parts = urlsplit(settings.REDIS_URL)
    database = FIRST_WORKER_DATABASE + int(worker.removeprefix("gw"))
    url = urlunsplit(parts._replace(path=f"/{database}"))
    settings.REDIS_URL = url
    cache = settings.CACHES["default"]
    cache["LOCATION"] = url
    cache["KEY_PREFIX"] = f"{cache.get('KEY_PREFIX', '')}-{worker}"
    layer = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    layer["hosts"] = [{**host, "address": url} for host in layer["hosts"]]
    layer["prefix"] = f"{layer['prefix']}-{worker}"
