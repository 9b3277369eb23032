"""Shared fixtures of the security suite: every test starts with an empty cache (discovery
documents, circuit breakers and rate-limit counters of one test must not decide another's)."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()
