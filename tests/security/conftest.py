from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached figures and throttles must neither leak in nor out of these tests (the
    process's memos are emptied for every test: tests/conftest.py)."""
    cache.clear()
    yield
    cache.clear()
