"""Attacks that held: a verification link, a login code or a session of portal B used on portal A.

Alice is a contact on two portals. Everything a portal hands out (the code in a mail, the link in a
mail, the session cookie) is bound to that portal: on the other portal's host it opens nothing.
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from accounts.models import EmailVerification, Identity, LoginCode
from tests.accounts.helpers import code_from, link_from, path_of
from tests.factories import ContactFactory, CustomerFactory, SSOConfigFactory, UserFactory
from tests.sso import conftest as sso_fixtures
from tests.sso.conftest import Journey

pytestmark = pytest.mark.django_db

# The SSO suite's fixtures (a loopback provider, a config on it, a sign-in driver), reused here.
op = sso_fixtures.op


@pytest.fixture
def alice_on_both(contact, other_portal):
    """Alice is a contact on Acme (``contact``) and on Globex."""
    ContactFactory(customer=CustomerFactory(portal=other_portal), email="alice@example.com")


@pytest.fixture
def acme():
    return Client(HTTP_HOST="acme.localhost")


@pytest.fixture
def globex():
    return Client(HTTP_HOST="globex.localhost")


def _request_code(c, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        assert c.post("/login/", {"email": "alice@example.com"}).status_code == 302
    return code_from(mail.outbox[-1])


def test_login_code_of_portal_b_does_not_open_portal_a(
    acme, globex, alice_on_both, django_capture_on_commit_callbacks
):
    _request_code(acme, django_capture_on_commit_callbacks)  # Acme has its own pending code for Alice
    b_code = _request_code(globex, django_capture_on_commit_callbacks)

    response = acme.post("/login/code/", {"code": b_code})

    assert response.status_code == 400
    assert SESSION_KEY not in acme.session
    b_row = LoginCode.objects.get(portal__host="globex.localhost")
    assert b_row.used_at is None  # and B's code was not spent by A's attempt


def test_login_code_with_portal_b_session_cookie_on_portal_a(
    acme, globex, alice_on_both, django_capture_on_commit_callbacks
):
    """Globex's session (holding the pending email) and its code, carried over to Acme's host."""
    b_code = _request_code(globex, django_capture_on_commit_callbacks)
    acme.cookies = globex.cookies

    response = acme.post("/login/code/", {"code": b_code})

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "/login/" in response["Location"]  # back to the email form: no pending sign-in here
    assert SESSION_KEY not in acme.session


def test_the_same_code_works_on_its_own_portal(globex, alice_on_both, django_capture_on_commit_callbacks):
    """The control, so the refusals above are the portal binding and not a broken code."""
    b_code = _request_code(globex, django_capture_on_commit_callbacks)

    assert globex.post("/login/code/", {"code": b_code}).status_code == 302
    assert SESSION_KEY in globex.session


@pytest.fixture
def globex_link(globex, other_portal, alice_on_both, op, django_capture_on_commit_callbacks):
    """A first SSO sign-in on Globex mails Alice a verification link (made in ``globex``'s browser)."""
    config = SSOConfigFactory(portal=other_portal, issuer=op.issuer, client_id=op.client_id)
    journey = Journey(globex, op)
    with django_capture_on_commit_callbacks(execute=True):
        response = journey.login(config)
    assert response.status_code == 302 and "check-email" in response["Location"]
    link, _token = link_from(mail.outbox[-1])
    assert "globex.localhost" in link
    return path_of(link)


def test_verification_link_of_portal_b_is_not_found_on_portal_a(acme, portal, globex_link):
    page = acme.get(globex_link)

    assert page.status_code == 404
    assert b"Alice" not in page.content


def test_verification_link_of_portal_b_confirmed_on_portal_a_links_nothing(acme, portal, globex, globex_link):
    acme.cookies = globex.cookies  # even from the very browser that made the sign-in
    for action in ("confirm", "continue", "deny"):
        response = acme.post(globex_link, {"action": action})
        assert response.status_code == 404, action
    assert SESSION_KEY not in acme.session
    assert EmailVerification.objects.get().used_at is None
    identity = Identity.objects.get()
    assert identity.user is None and identity.revoked_at is None and not identity.denied_email


def test_verification_link_works_on_its_own_portal(globex, globex_link):
    """The control: on Globex, in the browser that signed in, the link confirms."""
    globex.get(globex_link)
    response = globex.post(globex_link, {"action": "confirm"})

    assert response.status_code == 302
    assert SESSION_KEY in globex.session


def test_session_of_portal_b_is_ignored_on_portal_a(acme, globex, portal, other_portal):
    globex.force_login(UserFactory(portal=other_portal, email="alice@example.com"))
    assert globex.get("/").status_code == 200
    acme.cookies = globex.cookies

    response = acme.get("/")

    assert response.status_code == 302 and "/login/" in response["Location"]
    assert SESSION_KEY not in response.wsgi_request.session
