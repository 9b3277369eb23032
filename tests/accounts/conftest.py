import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import RequestFactory

from tests.factories import SSOConfigFactory


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate limits live in the (process-wide) locmem cache: every test starts with none used."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sso_config(portal):
    return SSOConfigFactory(portal=portal, issuer="https://acme.halopsa.example/auth")


@pytest.fixture
def make_request(portal):
    """A request to the Acme portal with a real session, as the SSO callback would pass it."""

    def _make(path: str = "/callback", *, session=None, ip: str = "203.0.113.7"):
        request = RequestFactory().get(path, HTTP_HOST="acme.localhost", REMOTE_ADDR=ip)
        request.portal = portal
        request.session = session if session is not None else SessionStore()
        return request

    return _make


@pytest.fixture
def request_code(client, django_capture_on_commit_callbacks):
    """POST /login/ with an email, running the after-commit mail queueing (tasks run inline)."""

    def _request(email: str, *, next_url: str | None = None, c=None, **extra):
        data = {"email": email}
        if next_url is not None:
            data["next"] = next_url
        with django_capture_on_commit_callbacks(execute=True):
            return (c or client).post("/login/", data, **extra)

    return _request
