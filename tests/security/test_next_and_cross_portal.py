"""The ``next`` battery and cross-portal links, codes and sessions (issue 8, section 9: attacks that held)."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from accounts.redirects import safe_next_url
from tests.accounts.helpers import code_from
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

EVIL_NEXT = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "////evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\x00/evil.example",
    "http://acme.localhost.evil.example/",
    "http://evil.example@acme.localhost/",
    "http://globex.localhost/invoices/",  # another portal of this installation
    "//globex.localhost/",
    "http://acme.localhost:8000/",  # even this portal's own absolute URL is not needed
    "evil.example",
    "invoices/",
    "/" + "a" * 2100,
]


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_the_next_rule_refuses(rf, evil):
    request = rf.get("/login/", HTTP_HOST="acme.localhost")

    assert safe_next_url(request=request, url=evil) == ""


@pytest.mark.parametrize("good", ["/", "/invoices/", "/invoices/42/?tab=pdf#top", "/profile/"])
def test_the_next_rule_keeps_paths_on_this_portal(rf, good):
    request = rf.get("/login/", HTTP_HOST="acme.localhost")

    assert safe_next_url(request=request, url=good) == good


@pytest.mark.parametrize("evil", EVIL_NEXT[:12])
def test_after_the_code_sign_in_an_evil_next_lands_on_the_dashboard(client, contact, request_code, evil):
    request_code("alice@example.com", next_url=evil)

    response = client.post("/login/code/", {"code": code_from(mail.outbox[-1])})

    assert response.status_code == 302
    assert urlsplit(response["Location"]).netloc == ""
    assert response["Location"] == "/"


@pytest.mark.parametrize("evil", EVIL_NEXT[:12])
def test_the_sso_login_start_drops_an_evil_next(journey, sso_config, op, contact, evil):
    response = journey.callback(journey.authorize(journey.start(sso_config, next_url=evil)))

    # A first sign-in goes to "check your email"; nothing points off-site on the way.
    assert urlsplit(response["Location"]).netloc == ""
    assert "evil" not in response["Location"]


# --- cross-portal ---------------------------------------------------------------------------------


@pytest.fixture
def globex_alice(other_portal):
    """alice@example.com is also a contact of the Globex portal."""
    return ContactFactory(
        customer=CustomerFactory(portal=other_portal, name="Globex Ltd"), email="alice@example.com"
    )


def test_a_code_of_one_portal_does_not_sign_in_on_another(contact, globex_alice, request_code, client):
    request_code("alice@example.com")
    code = code_from(mail.outbox[-1])

    globex = Client(HTTP_HOST="globex.localhost")
    globex.post("/login/", {"email": "alice@example.com"})
    response = globex.post("/login/code/", {"code": code})

    assert SESSION_KEY not in response.wsgi_request.session
    assert SESSION_KEY not in globex.session


def test_a_session_of_one_portal_is_anonymous_on_another(client, user, other_portal):
    client.force_login(user)
    session_cookie = client.cookies["sessionid"].value

    globex = Client(HTTP_HOST="globex.localhost")
    globex.cookies["sessionid"] = session_cookie
    response = globex.get("/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_another_portals_verification_link_is_unknown_here(
    journey, sso_config, op, contact, other_portal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        journey.login(sso_config)  # a first sign-in: a link is mailed for Acme
    link = next(line for line in mail.outbox[-1].body.split() if "/accounts/verify/" in line)
    path = "/" + link.split("/", 3)[3]

    response = Client(HTTP_HOST="globex.localhost").get(path)

    assert response.status_code in (400, 404)
