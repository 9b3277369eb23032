"""Attacks that held: open redirects through ``next`` after any sign-in.

Every way into the portal takes a ``next``: the login page (already signed in), the email-code login,
the SSO login URL (kept in the pending state until the callback), and the verification link of a
first SSO sign-in. None may ever send the browser off-site. "Off-site" is judged as a browser would:
browsers treat ``\\`` as ``/`` and strip tabs and newlines, so ``/\\evil.com`` is ``//evil.com``.
"""

from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Identity
from tests.accounts.helpers import code_from, link_from, path_of
from tests.sso import conftest as sso_fixtures

pytestmark = pytest.mark.django_db

# The SSO suite's fixtures (a loopback provider, a config on it, a sign-in driver), reused here.
journey = sso_fixtures.journey
op = sso_fixtures.op
sso_config = sso_fixtures.sso_config

EVIL = [
    "//evil.com",
    "///evil.com",
    "////evil.com/x",
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "https://evil.com",
    "http://evil.com/invoices/",
    "HTTPS://evil.com",
    "https:evil.com",
    "https:/evil.com",
    "//evil.com@acme.localhost",
    "http://acme.localhost@evil.com/",
    "https://acme.localhost.evil.com/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.com",
    "%2f%5cevil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "\r\nLocation: https://evil.com",
    "/invoices/\r\nSet-Cookie: x=1",
    "\x00//evil.com",
    " //evil.com",
    "\t//evil.com",
    "/" + "a" * 2100,  # over the length cap
]


def off_site(location: str) -> bool:
    """Would a browser leave acme.localhost when following this Location?"""
    if any(ord(ch) < 32 or ch == "\\" for ch in location):
        return True
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        return not (parts.scheme in ("http", "https", "") and parts.netloc == "acme.localhost")
    return not location.startswith("/") or location.startswith("//")


def assert_stays(response):
    """A redirect on-site, or (for input no browser sends, such as NUL) a plain 400 with no redirect."""
    if response.status_code == 400:
        assert not response.has_header("Location")
        return
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert not off_site(location), location
    assert "evil" not in location.lower(), location


def test_the_judge_itself():
    """``off_site`` must call every vector off-site if it were followed as is (else the battery is weak)."""
    assert all(off_site(v) or "evil" not in v for v in EVIL)
    assert not off_site("/invoices/?page=2")


@pytest.fixture
def alice_identity(user, sso_config):
    return Identity.objects.create(
        portal=user.portal,
        sso_config=sso_config,
        issuer=sso_config.issuer,
        sub="halo-user-1",
        email="alice@example.com",
        user=user,
        verified_at=timezone.now(),
    )


@pytest.mark.parametrize("evil", EVIL)
def test_login_page_of_a_signed_in_person(client, user, evil):
    client.force_login(user)
    assert_stays(client.get("/login/", {"next": evil}))


#: The vectors a request line can carry as they are (no spaces, backslashes or control characters).
RAW = [v for v in EVIL if not any(ord(ch) < 33 or ch == "\\" for ch in v)]


@pytest.mark.parametrize("evil", RAW)
def test_login_page_raw_query(client, user, evil):
    """The same, with the value not re-encoded by the client: ``?next=%2F%2Fevil.com`` is ``//evil.com``."""
    client.force_login(user)
    assert_stays(client.get(f"/login/?next={evil}"))


@pytest.mark.parametrize("evil", EVIL)
def test_email_code_login(client, contact, evil, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/", {"email": "alice@example.com", "next": evil})
    code = code_from(mail.outbox[-1])

    response = client.post("/login/code/", {"code": code})

    assert_stays(response)
    assert "_auth_user_id" in client.session


@pytest.mark.parametrize("evil", EVIL)
def test_sso_login_next_is_never_followed_after_the_callback(journey, sso_config, alice_identity, evil):
    start = journey.client.get(f"/sso/{sso_config.key}/login/", {"next": evil})
    if start.status_code == 400:  # NUL: refused before any provider call
        return assert_stays(start)
    response = journey.callback(journey.authorize(start["Location"]))

    assert_stays(response)
    assert "_auth_user_id" in journey.client.session


@pytest.mark.parametrize("evil", EVIL[:12])
def test_sso_buttons_on_the_login_page_drop_it(client, sso_config, evil):
    sso_config.show_button = True
    sso_config.save(update_fields=["show_button"])
    page = client.get("/login/", {"next": evil}).content.decode()

    assert f"/sso/{sso_config.key}/login/" in page
    assert "evil" not in page.split(f"/sso/{sso_config.key}/login/")[1].split('"')[0]


@pytest.mark.parametrize("evil", ["//evil.com", "/\\evil.com", "https://evil.com", "javascript:alert(1)"])
def test_verification_link_of_a_first_sso_sign_in(
    journey, sso_config, contact, evil, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = journey.login(sso_config, next_url=evil)
    assert first.status_code == 302 and "check-email" in first["Location"], first.content[:300]
    link = path_of(link_from(mail.outbox[-1])[0])
    journey.client.get(link)

    confirm = journey.client.post(link, {"action": "confirm"})
    assert_stays(confirm)
    assert "_auth_user_id" in journey.client.session

    continued = Client(HTTP_HOST="acme.localhost").post(link, {"action": "continue"})
    if continued.status_code == 302:  # the link is used now; if it still answers, it stays on-site
        assert_stays(continued)


def test_a_safe_next_is_kept(client, user):
    """The control: a real path is honoured, so the tests above are not passing on "always dashboard"."""
    client.force_login(user)
    assert client.get("/login/", {"next": "/invoices/?page=2"})["Location"] == "/invoices/?page=2"
