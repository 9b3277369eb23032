"""Item 8: an anonymous visitor who starts nothing leaves no session row behind.

Seen: 300 forged callback requests made 301 session rows. Only starting something (asking for a
code, starting an SSO sign-in) may open a session.
"""

import pytest
from django.contrib.sessions.models import Session

from tests.factories import SSOConfigFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(portal):
    return SSOConfigFactory(portal=portal, issuer="https://acme.halopsa.example/auth")


def anonymous_paths(key):
    return [
        ("get", "/"),
        ("get", "/login/"),
        ("get", "/login/?next=/invoices/"),
        ("get", "/login/code/"),
        ("get", "/logout/"),
        ("get", "/invoices/"),
        ("get", "/accounts/check-email/"),
        ("get", "/accounts/verify/not-a-real-token/"),
        ("post", "/accounts/verify/not-a-real-token/"),
        ("get", f"/callback?iss={key}&code=forged&state=forged"),
        ("get", f"/callback?iss={key}&code=forged"),
        ("get", f"/callback?iss={key}&error=access_denied&state=forged"),
        ("get", f"/callback?iss={key}&error=access_denied"),
        ("get", "/callback?iss=unknown-key&code=x&state=y"),
        ("get", "/sso/unknown-key/login/"),
        ("get", "/no-such-page/"),
        ("post", "/login/"),  # an invalid form: nothing started
        ("get", "/healthz"),
    ]


def test_requests_that_start_nothing_create_no_session(client, config):
    for method, path in anonymous_paths(config.key) * 3:
        response = getattr(client, method)(path)
        assert response.status_code < 500, path
        assert "sessionid" not in response.cookies, path
        assert "__Host-sessionid" not in response.cookies, path

    assert Session.objects.count() == 0


def test_asking_for_a_code_does_open_a_session(client, contact):
    client.post("/login/", {"email": "alice@example.com"})

    assert Session.objects.count() == 1
