"""Values a test expects to be there: they fail the test on the spot when one is missing, and
give back a value that is never None, so the checks after them read it without a guard (and
mypy knows it is there)."""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")


def present(value: T | None) -> T:
    """A value the test expects (a lookup's ``first()``, the shift at a time, a figure that
    must be computed): the test fails here when it is None."""
    assert value is not None, "expected a value, got None"
    return value


def search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """``re.search`` for text the test expects: the test fails on the pattern when it is
    missing."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"no match for {pattern!r}"
    return match
