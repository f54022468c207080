"""core.memo: a process's kept values, read again after their time or under a new key, and
the registry that empties them all between tests."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alerts import engine
from core import memo
from core.memo import Memo
from dashboard import wall
from kpis import current, mapping


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loads:
    """A loader that counts its calls and returns their number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return f"test.{request.node.name}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_value_is_kept_for_its_ttl_then_read_again(name: str, clock: Clock) -> None:
    kept: Memo[int] = Memo(name, ttl=10, clock=clock)
    load = Loads()
    assert kept.get(load) == 1
    clock.now += 9.9
    assert kept.get(load) == 1
    clock.now += 0.1
    assert kept.get(load) == 2
    assert load.calls == 2


def test_without_a_ttl_a_value_is_kept_until_cleared(name: str, clock: Clock) -> None:
    kept: Memo[int] = Memo(name, clock=clock)
    load = Loads()
    kept.get(load)
    clock.now += 1e9
    assert kept.get(load) == 1
    kept.clear()
    assert len(kept) == 0
    assert kept.get(load) == 2


def test_a_caller_may_ask_for_a_younger_value(name: str, clock: Clock) -> None:
    kept: Memo[int] = Memo(name, ttl=30, clock=clock)
    load = Loads()
    kept.get(load)
    clock.now += 2
    assert kept.get(load, max_age=5) == 1
    assert kept.get(load, max_age=1) == 2
    assert kept.get(load) == 2  # just read: the ttl counts from then


def test_a_new_key_is_a_new_value_and_replaces_the_last(name: str) -> None:
    kept: Memo[str] = Memo(name)
    assert kept.get(lambda: "first", key=1) == "first"
    assert kept.get(lambda: "ignored", key=1) == "first"
    assert kept.get(lambda: "second", key=2) == "second"
    assert len(kept) == 1
    assert kept.get(lambda: "first again", key=1) == "first again"


def test_a_memo_of_several_keys_empties_when_full(name: str) -> None:
    kept: Memo[str] = Memo(name, size=2)
    kept.get(lambda: "a", key="a")
    kept.get(lambda: "b", key="b")
    assert kept.get(lambda: "not read", key="a") == "a"
    kept.get(lambda: "c", key="c")
    assert len(kept) == 1
    assert kept.get(lambda: "a again", key="a") == "a again"


def test_none_is_a_value_kept_like_any_other(name: str) -> None:
    kept: Memo[int | None] = Memo(name)
    load = Loads()
    assert kept.get(lambda: None if load() else 0) is None
    assert kept.get(lambda: None if load() else 0) is None
    assert load.calls == 1


def test_a_value_put_is_read_without_loading(name: str, clock: Clock) -> None:
    kept: Memo[str] = Memo(name, ttl=10, clock=clock)
    kept.put("written", key=7)
    assert kept.get(lambda: "loaded", key=7) == "written"
    clock.now += 10
    assert kept.get(lambda: "loaded", key=7) == "loaded"


def test_a_clear_during_a_load_is_not_undone_by_it(name: str) -> None:
    kept: Memo[str] = Memo(name)

    def load_while_cleared() -> str:
        kept.clear()  # e.g. a save signal in another thread while the mapping was read
        return "read before the change"

    assert kept.get(load_while_cleared) == "read before the change"
    assert len(kept) == 0
    assert kept.get(lambda: "read after") == "read after"


class WatchedLock:
    """The memo's load lock, telling the test when a second caller is waiting on it."""

    def __init__(self, lock: Any, waiting: threading.Event) -> None:
        self.lock, self.waiting = lock, waiting

    def __enter__(self) -> None:
        if self.lock.locked():
            self.waiting.set()
        self.lock.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.lock.release()


def test_callers_that_miss_together_share_one_load(name: str) -> None:
    kept: Memo[int] = Memo(name)
    started, release, waiting = threading.Event(), threading.Event(), threading.Event()
    kept._load_locks = [WatchedLock(lock, waiting) for lock in kept._load_locks]  # type: ignore[misc]
    load = Loads()

    def slow_load() -> int:
        started.set()
        assert release.wait(10)
        return load()

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(kept.get(slow_load)))
    second = threading.Thread(target=lambda: results.append(kept.get(slow_load)))
    first.start()
    assert started.wait(10)
    second.start()
    assert waiting.wait(10)  # the second caller missed too, and waits for the first's load
    release.set()
    first.join(10)
    second.join(10)
    assert results == [1, 1]
    assert load.calls == 1


def test_a_slow_load_of_one_key_does_not_hold_up_another_key(name: str) -> None:
    """A wall drawing its snapshot does not make a wall of another filter wait."""
    kept: Memo[str] = Memo(name, size=8)
    started, release = threading.Event(), threading.Event()

    def slow_load() -> str:
        started.set()
        assert release.wait(10)
        return "slow"

    first = threading.Thread(target=lambda: kept.get(slow_load, key=0))
    first.start()
    try:
        assert started.wait(10)
        assert kept.get(lambda: "quick", key=1) == "quick"  # while key 0 is still loading
    finally:
        release.set()
        first.join(10)
    assert kept.get(lambda: "again", key=0) == "slow"


def test_every_memo_is_registered_under_its_one_name(name: str) -> None:
    kept: Memo[int] = Memo(name)
    assert memo.registered()[name] is kept
    with pytest.raises(ValueError, match="exists already"):
        Memo(name)
    del kept
    gc.collect()
    assert name not in memo.registered()  # a memo no one holds is gone from it


def test_clear_all_empties_every_memo(name: str) -> None:
    kept = [Memo[int](f"{name}.{n}", size=2) for n in range(3)]
    for n, one in enumerate(kept):
        one.put(n)
        one.put(n, key="other")
    memo.clear_all()
    assert [len(one) for one in kept] == [0, 0, 0]
    assert kept[0].get(lambda: 9) == 9


#: Every cache the product keeps in a process, by its registered name.
PRODUCT_MEMOS: dict[str, Callable[[], Memo[Any]]] = {
    "alerts.engine.rules": lambda: engine._rules,
    "alerts.engine.buckets": lambda: engine._buckets,
    "alerts.engine.calendars": lambda: engine._calendars,
    "kpis.mapping.state_buckets": lambda: mapping._mapping,
    "kpis.current.figures": lambda: current._figures,
    "dashboard.wall.groups": lambda: wall._groups,
    "dashboard.wall.snapshots": lambda: wall._snapshots,
}


@pytest.mark.parametrize("memo_name", PRODUCT_MEMOS)
def test_the_products_caches_are_registered_memos(memo_name: str) -> None:
    assert memo.registered()[memo_name] is PRODUCT_MEMOS[memo_name]()


@pytest.fixture(scope="module")
def filled_memos() -> Iterator[None]:
    """Every registered memo holds a value before the test's own fixtures run (a wider scope
    is set up first): what a previous test would leave."""
    for one in memo.registered().values():
        one.put("left by a previous test", key="previous")
    yield
    memo.clear_all()


def test_each_test_starts_with_every_memo_empty(filled_memos: None) -> None:
    held = {name: len(one) for name, one in memo.registered().items()}
    assert set(PRODUCT_MEMOS) <= set(held)
    assert not any(held.values()), held
