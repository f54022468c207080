from __future__ import annotations

import pytest
from django.core.cache import cache

from dashboard import wall


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached groups, figures and throttles must neither leak in nor out of these tests."""
    cache.clear()
    wall._snapshots.clear()
    wall._groups_cache.clear()
    yield
    cache.clear()
    wall._snapshots.clear()
    wall._groups_cache.clear()
