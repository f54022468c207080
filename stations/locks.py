"""A lock with expiry in the shared cache (Redis in production, memory when embedded).

A worker that dies holding the lock blocks the next run for at most ``ttl`` seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


@contextmanager
def exclusive(name: str, ttl: float) -> Iterator[bool]:
    """Yield True if this caller holds ``name`` now, False if someone else does."""
    key = f"lock:{name}"
    token = secrets.token_hex(8)
    acquired = cache.add(key, token, timeout=max(1, round(ttl)))
    try:
        yield acquired
    finally:
        # Only release our own lock: if it expired and another run took it, leave it be.
        if acquired and cache.get(key) == token:
            cache.delete(key)
