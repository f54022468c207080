"""The one helper for a value a process keeps instead of reading it again, and the registry
of every such value, so that one call (``clear_all``: the tests, between two tests) forgets
them all.

A :class:`Memo` holds what its loader returned, by key: a generation read from the shared
cache (a new one is a new value), or anything else the value depends on. A value older than
its time to live is read again. Only one thread loads at a time: the others wait for its
value instead of all reading the same thing at once (after a restart, or an expiry under
load); loads of different keys wait on each other only when their keys share one of a few
locks. ``clear`` forgets everything held; a load that was under way when it was called
returns its value to its caller but does not keep it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Locks a memo's loads share, by their key's hash: a bounded number (keys may be many over
#: months), so two loads of different keys seldom wait on each other.
LOAD_LOCKS = 8

_registry: weakref.WeakValueDictionary[str, Memo[Any]] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


class Memo(Generic[T]):
    """A process-local value, read again after ``ttl`` seconds (never, when None) or under a
    new key. It keeps up to ``size`` keys: a new key when full forgets the others (one, by
    default: a new generation replaces the last)."""

    def __init__(
        self,
        name: str,
        *,
        ttl: float | None = None,
        size: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError("a memo keeps at least one value")
        self.name, self.ttl, self.size, self.clock = name, ttl, size, clock
        #: key -> (when its load started, value)
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._load_locks = [threading.Lock() for _ in range(min(size, LOAD_LOCKS))]
        self._state_lock = threading.Lock()
        self._clears = 0
        with _registry_lock:
            if name in _registry:
                raise ValueError(f"a memo named {name!r} exists already")
            _registry[name] = self

    def __repr__(self) -> str:
        return f"<Memo {self.name} ({len(self)} held)>"

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, load: Callable[[], T], key: Hashable = None, *, max_age: float | None = None
    ) -> T:
        """The value held under ``key`` if it is younger than ``max_age`` (the memo's ttl when
        not given), else ``load()``'s, which is kept."""
        max_age = self.ttl if max_age is None else max_age
        found = self._fresh(key, max_age)
        if found is not None:
            return found[1]
        with self._load_locks[hash(key) % len(self._load_locks)]:
            found = self._fresh(key, max_age)  # loaded while this thread waited
            if found is not None:
                return found[1]
            clears, started = self._clears, self.clock()
            value = load()
            with self._state_lock:
                if clears == self._clears:
                    self._keep(key, started, value)
            return value

    def put(self, value: T, key: Hashable = None) -> None:
        """Keep ``value`` under ``key``, as if just loaded (its writer knows it already)."""
        with self._state_lock:
            self._keep(key, self.clock(), value)

    def clear(self) -> None:
        """Forget every value: the next ``get`` loads."""
        with self._state_lock:
            self._clears += 1
            self._entries = {}

    def _fresh(self, key: Hashable, max_age: float | None) -> tuple[float, T] | None:
        found = self._entries.get(key)
        if found is None or (max_age is not None and self.clock() - found[0] >= max_age):
            return None
        return found

    def _keep(self, key: Hashable, at: float, value: T) -> None:
        if key not in self._entries and len(self._entries) >= self.size:
            self._entries = {}
        self._entries[key] = (at, value)


def registered() -> dict[str, Memo[Any]]:
    """Every memo alive in this process, by name."""
    with _registry_lock:
        return dict(_registry)


def clear_all() -> None:
    """Forget the values of every memo (the tests: each starts with none)."""
    for memo in registered().values():
        memo.clear()
