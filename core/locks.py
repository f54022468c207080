"""A lock with expiry in the shared cache (Redis in production, memory when embedded).

A worker that dies holding the lock blocks the next run for at most ``ttl`` seconds. The
release is atomic and checks the holder's token: a run that outlived its lock never frees
the lock of the run that took it over (with Redis, redis-py's ``Lock``, released by a Lua
script; embedded, the check and the delete under one process lock).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import LockError

#: Embedded: every check-and-delete of a lock key runs under this (one process only).
_local = threading.Lock()


def _redis_client() -> Any | None:
    """The cache's Redis client, or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


@contextmanager
def exclusive(name: str, ttl: float) -> Iterator[bool]:
    """Yield True if this caller holds ``name`` now, False if someone else does."""
    client = _redis_client()
    if client is not None:
        with _redis_lock(client, cache.make_key(f"lock:{name}"), ttl) as acquired:
            yield acquired
        return
    key = f"lock:{name}"
    token = secrets.token_hex(8)
    with _local:
        acquired = cache.add(key, token, timeout=max(1, round(ttl)))
    try:
        yield acquired
    finally:
        if acquired:
            release_local(key, token)


def release_local(key: str, token: str) -> bool:
    """Delete ``key`` only if it still holds ``token`` (an expired lock taken over by another
    run is left be); whether it was deleted."""
    with _local:
        if cache.get(key) != token:
            return False
        cache.delete(key)
        return True


@contextmanager
def _redis_lock(client: Any, key: str, ttl: float) -> Iterator[bool]:
    lock = client.lock(key, timeout=max(1, round(ttl)), blocking=False)
    acquired = bool(lock.acquire(blocking=False))
    try:
        yield acquired
    finally:
        if acquired:
            # Expired and perhaps taken by another run: theirs now, left be.
            with suppress(LockError):
                lock.release()
