import os

import pytest
from django.core.cache import caches
from django.test import override_settings

from portal import safe_cache
from tests.factories import ContactFactory, CustomerFactory, PortalFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_document_memo():
    """Each test starts without another test's memoized provider documents (sso.discovery),
    as each starts with an emptied cache."""
    from sso.discovery import forget_memo

    forget_memo()
    yield
    forget_memo()


@pytest.fixture
def portal(db):
    return PortalFactory(name="Acme", url="http://acme.localhost:8000")


@pytest.fixture
def other_portal(db):
    return PortalFactory(name="Globex", url="http://globex.localhost:8000")


@pytest.fixture
def client(client):
    """Django's test client, talking to the ``acme.localhost`` portal by default."""
    client.defaults["HTTP_HOST"] = "acme.localhost"
    return client


@pytest.fixture
def customer(portal):
    return CustomerFactory(portal=portal, name="Acme Ltd")


@pytest.fixture
def contact(customer):
    return ContactFactory(customer=customer, email="alice@example.com", name="Alice")


@pytest.fixture
def user(portal, contact):
    """A person who has proven they own alice@example.com on the Acme portal."""
    return UserFactory(portal=portal, email="alice@example.com")


from tests.standin import standin  # noqa: E402,F401  (session-scoped HaloPSA stand-in server)
from tests.stripestub import localstripe  # noqa: E402,F401  (session-scoped localstripe server)


@pytest.fixture
def redis_cache():
    """The shared cache as in production: Redis at TEST_BROKER_URL (its database is emptied)."""
    url = os.environ.get("TEST_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs TEST_BROKER_URL pointing at Redis")
    shared = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    safe_cache.reset()
    with override_settings(CACHES={"default": shared}):
        caches["default"].clear()
        yield caches["default"]
        caches["default"].clear()
    safe_cache.reset()


@pytest.fixture
def rate_limit_clock(monkeypatch):
    """The wall clock held in the middle of a 15-minute and of a 1-minute rate-limit window.

    The limits count in fixed windows aligned to the clock (``accounts.ratelimit``); a test that
    makes 21 requests on a slow machine could otherwise straddle a window's end and see the count
    start again. Returns the frozen time.
    """
    import time

    frozen = (int(time.time()) // 900) * 900 + 450  # 7.5 minutes in: mid-window for 15 min and 1 min
    monkeypatch.setattr(time, "time", lambda: frozen)
    return frozen
