from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Identity
from tests.factories import SSOConfigFactory, UserFactory
from tests.oidc_op import TinyOP


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def op():
    provider = TinyOP()
    yield provider
    provider.stop()


@pytest.fixture
def sso_config(portal, op):
    return SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id, description="HaloPSA")


class Journey:
    """Drives a sign-in: our login start → the provider's authorize → our callback."""

    def __init__(self, client, op):
        self.client = client
        self.op = op

    def start(self, config, *, next_url: str | None = None):
        params = {"next": next_url} if next_url else {}
        response = self.client.get(f"/sso/{config.key}/login/", params)
        assert response.status_code == 302, response.content[:500]
        return response["Location"]

    def authorize(self, authorize_url: str) -> str:
        """What the browser does at the provider: returns our callback path + query."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        parts = urlsplit(response.headers["Location"])
        return f"{parts.path}?{parts.query}"

    def callback(self, callback: str):
        return self.client.get(callback)

    def login(self, config, *, next_url: str | None = None):
        return self.callback(self.authorize(self.start(config, next_url=next_url)))


def query_of(url: str) -> dict:
    return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def returning_alice(portal, contact, sso_config, op):
    """Alice, already linked to the test provider's ``halo-user-1``: her next SSO login signs her in."""
    user = UserFactory(portal=portal, email="alice@example.com")
    Identity.objects.create(
        portal=portal,
        sso_config=sso_config,
        issuer=op.issuer,
        sub="halo-user-1",
        email="alice@example.com",
        user=user,
        verified_at=timezone.now(),
    )
    return user


@pytest.fixture
def journey(client, op):
    return Journey(client, op)
