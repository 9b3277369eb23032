import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and back-offs live in the (process-wide) locmem cache: each test starts clean."""
    cache.clear()
    yield
    cache.clear()


# The SSO suite's provider and sign-in journey, reused rather than copied.
from tests.accounts.conftest import request_code  # noqa: E402,F401
from tests.sso.conftest import journey, op, sso_config  # noqa: E402,F401
