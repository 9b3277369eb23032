import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and back-offs live in the (process-wide) locmem cache: each test starts clean."""
    cache.clear()
    yield
    cache.clear()
