"""Every callback refusal again, with the pending-login states in Redis (as in production) instead
of the session: the state store must refuse exactly what the session store refuses."""

import pytest

from tests.sso.test_callback_refusals import *  # noqa: F403 (the same tests, collected here again)


@pytest.fixture(autouse=True)
def _states_in_redis(redis_cache):
    return redis_cache
