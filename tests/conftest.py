import os
import socket
import threading

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


@pytest.fixture
def not_eager():
    """Tasks are published to the broker instead of run inline (the broker tests' publisher)."""
    from tests.celery_worker import configured

    with configured(task_always_eager=False):
        yield


@pytest.fixture
def silent_broker():
    """A local socket that accepts connections and never answers: a hung broker."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/15"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture(params=["refused", "silent"])
def unreachable_broker(request) -> str:
    """A broker URL that fails a publisher: a port nobody listens on, or a hung broker (``silent_broker``)."""
    if request.param == "refused":
        from tests.servers import free_port

        return f"redis://127.0.0.1:{free_port()}/15"
    return request.getfixturevalue("silent_broker")
