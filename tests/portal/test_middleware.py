"""Tenancy middleware: a session cookie that reaches another portal's host."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_on_acme(portal, contact):
    browser = Client(HTTP_HOST="acme.localhost")
    browser.force_login(UserFactory(portal=portal, email="alice@example.com"))
    assert browser.get("/").status_code == 200
    return browser


def test_a_cookie_sent_to_another_portal_is_ignored_there_not_used_to_sign_out(alice_on_acme, other_portal):
    """Alice's Acme cookie, replayed on Globex (a copied cookie, a shared parent domain): Globex
    treats the request as anonymous, and Alice stays signed in on Acme."""
    cookie = alice_on_acme.cookies["sessionid"].value
    elsewhere = Client(HTTP_HOST="globex.localhost")
    elsewhere.cookies["sessionid"] = cookie

    response = elsewhere.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not response.wsgi_request.user.is_authenticated
    # Globex neither deletes the cookie nor ends the session behind it.
    assert "sessionid" not in response.cookies
    assert Session.objects.filter(session_key=cookie).exists()
    assert elsewhere.get("/login/").status_code == 200

    page = alice_on_acme.get("/")
    assert page.status_code == 200 and page.wsgi_request.user.email == "alice@example.com"


def test_what_another_portal_writes_goes_to_a_session_of_its_own(alice_on_acme, other_portal):
    """A login started on Globex with Acme's cookie must not write into Acme's session."""
    cookie = alice_on_acme.cookies["sessionid"].value
    elsewhere = Client(HTTP_HOST="globex.localhost")
    elsewhere.cookies["sessionid"] = cookie
    response = elsewhere.post("/login/", {"email": "alice@example.com"})
    assert response.status_code in (200, 302)
    if "sessionid" in response.cookies:
        assert response.cookies["sessionid"].value != cookie
    acme_session = Session.objects.get(session_key=cookie).get_decoded()
    assert acme_session[SESSION_KEY] and not any("login" in key for key in acme_session if key != SESSION_KEY)
    assert alice_on_acme.get("/").status_code == 200
