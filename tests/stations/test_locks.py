"""The job lock's release: a run that outlived its lock never deletes the next run's."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import cache, caches
from django.test import override_settings

from core import locks
from core.locks import exclusive
from stations import jobs
from tests.e2e.conftest import unavailable

REDIS_URL = "redis://127.0.0.1:6379/4"  # these tests' own database, under a unique prefix


@pytest.fixture
def redis_cache() -> Iterator[redis.Redis]:
    raw = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        raw.ping()
    except redis.RedisError as exc:
        raw.close()
        unavailable(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"test-locks-{uuid.uuid4().hex[:8]}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    with override_settings(CACHES=caches):  # Django's test signal swaps the cache
        try:
            yield raw
        finally:
            for key in raw.scan_iter(f"{prefix}:*"):
                raw.delete(key)
            raw.close()


def test_with_redis_a_lock_expiring_as_it_is_released_stays_the_next_runs(
    redis_cache: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert type(caches["default"]).__name__ == "RedisCache"
    key = cache.make_key("lock:job:live")
    taken_over = threading.Event()
    real = redis.Redis.execute_command

    def execute_command(self: redis.Redis, *args: Any, **options: Any) -> Any:
        # The first run's lock expires and the next run takes it just before the first run's
        # release reaches Redis (whatever command that release is).
        command = str(args[0]).upper()
        releasing = command in {"DEL", "UNLINK", "EVAL", "EVALSHA"} and key.encode() in [
            a if isinstance(a, bytes) else str(a).encode() for a in args[1:]
        ]
        if releasing and not taken_over.is_set():
            taken_over.set()
            real(redis_cache, "DEL", key)
            real(redis_cache, "SET", key, "next-run", "EX", 60)
        return real(self, *args, **options)

    with exclusive("job:live", ttl=60) as held:
        assert held
        monkeypatch.setattr(redis.Redis, "execute_command", execute_command)
    monkeypatch.undo()
    assert taken_over.is_set()
    assert redis_cache.get(key) == b"next-run"
    with exclusive("job:live", ttl=60) as held_again:
        assert not held_again


def test_with_redis_the_lock_holds_and_frees(redis_cache: redis.Redis) -> None:
    with exclusive("job:history", ttl=60) as first:
        assert first
        assert 0 < redis_cache.ttl(cache.make_key("lock:job:history")) <= 60
        with exclusive("job:history", ttl=60) as second:
            assert not second
    with exclusive("job:history", ttl=60) as third:
        assert third


def test_embedded_a_lock_expiring_as_it_is_released_stays_the_next_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache.clear()
    key = "lock:job:live"
    next_run_holds = threading.Event()
    release_next_run = threading.Event()
    real_delete = cache.delete
    threads: list[threading.Thread] = []

    def next_run() -> None:
        with exclusive("job:live", ttl=60) as held:
            if held:
                next_run_holds.set()
                release_next_run.wait(10)

    def delete(k: str, *args: Any, **kwargs: Any) -> Any:
        if k == key and not threads:
            # The first run's lock expires between its read and its delete; the next run
            # tries to take it at that moment.
            real_delete(k)
            threads.append(threading.Thread(target=next_run))
            threads[0].start()
            next_run_holds.wait(1)  # today's read-then-delete lets it in here
        return real_delete(k, *args, **kwargs)

    monkeypatch.setattr(cache, "delete", delete)
    # The embedded path, even when the suite runs with a Redis cache.
    monkeypatch.setattr(locks, "_redis_client", lambda: None)
    try:
        with exclusive("job:live", ttl=60) as held:
            assert held
        assert threads, "the release never deleted the key"
        assert next_run_holds.wait(10)
        with exclusive("job:live", ttl=60) as third:
            assert not third, "the first run deleted the next run's lock"
    finally:
        release_next_run.set()
        for thread in threads:
            thread.join(10)
        cache.clear()


def test_the_live_lock_lasts_ten_polls_not_a_minute(settings: Any) -> None:
    settings.POLL_INTERVAL = 1.0
    settings.CWORK_TIMEOUT = 2.0
    assert jobs.JOBS[jobs.SyncKind.LIVE].lock_seconds == 10
    settings.CWORK_TIMEOUT = 10.0
    assert jobs.JOBS[jobs.SyncKind.LIVE].lock_seconds == 30  # never under one whole call
    settings.POLL_INTERVAL = 5.0
    assert jobs.JOBS[jobs.SyncKind.LIVE].lock_seconds == 50
