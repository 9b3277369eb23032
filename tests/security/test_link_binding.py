"""Issue 8, item 3: the verification link alone no longer binds an identity.

Against a real OpenID provider on loopback (``tests.oidc_op``): an attacker whose HaloPSA account claims
alice@example.com signs in; Alice gets a genuine link. Opened in any browser but the attacker's, the link
links nothing: that browser must sign in through HaloPSA itself, and only the same (issuer, sub) is linked.
"""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from accounts.models import AuditEvent, Identity, User
from tests.factories import SSOConfigFactory
from tests.oidc_op import TinyOP
from tests.sso.conftest import Journey

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://acme\.localhost:8000(/accounts/verify/[A-Za-z0-9_-]+/)")
ATTACKER = {"sub": "attacker-7", "email": "alice@example.com", "name": "Alice Anderson"}
ALICE = {"sub": "alice-1", "email": "alice@example.com", "name": "Alice"}


@pytest.fixture
def op():
    provider = TinyOP()
    yield provider
    provider.stop()


@pytest.fixture
def config(portal, op):
    return SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id, description="HaloPSA")


class Browser:
    """One browser: its own cookies, signing in at the provider as ``who``."""

    def __init__(self, op, capture):
        self.client = Client(HTTP_HOST="acme.localhost")
        self.journey = Journey(self.client, op)
        self.op = op
        self.capture = capture

    def sso(self, config, who: dict, *, start: str | None = None, next_url: str | None = None):
        self.op.knobs.user = dict(who)
        if start is None:
            authorize = self.journey.start(config, next_url=next_url)
        else:
            response = self.client.get(start)
            assert response.status_code == 302, response.content[:300]
            authorize = response["Location"]
        with self.capture(execute=True):
            return self.journey.callback(self.journey.authorize(authorize))

    def signed_in_as(self) -> User | None:
        user_id = self.client.session.get(SESSION_KEY)
        return User.objects.get(pk=user_id) if user_id else None


@pytest.fixture
def browser(op, django_capture_on_commit_callbacks):
    return lambda: Browser(op, django_capture_on_commit_callbacks)


def latest_link() -> str:
    return LINK.search(mail.outbox[-1].body).group(1)


def test_the_victim_confirming_an_attackers_link_links_nothing(config, contact, browser):
    attacker, alice = browser(), browser()
    assert attacker.sso(config, ATTACKER)["Location"] == "/accounts/check-email/"
    link = latest_link()
    assert mail.outbox[-1].to == ["alice@example.com"]

    page = alice.client.get(link)
    text = page.content.decode()
    assert "A sign-in through HaloPSA as <strong>Alice Anderson</strong> at" in text
    assert "wants to open your billing account" in text
    assert "Continue with HaloPSA" in text and "Confirm and sign in" not in text

    # Pressing "confirm" anyway (a forged form) links nothing.
    assert alice.client.post(link, {"action": "confirm"}).status_code == 403
    # "Continue with HaloPSA": Alice signs in as herself, another identity than the link's.
    start = alice.client.post(link, {"action": "continue"})["Location"]
    response = alice.sso(config, ALICE, start=start)
    assert response["Location"] == "/accounts/check-email/"  # her own identity must verify its own link

    attacker_identity = Identity.objects.get(sub=ATTACKER["sub"])
    assert attacker_identity.user is None and attacker_identity.verified_at is None
    assert AuditEvent.objects.filter(kind="verification_mismatch").exists()
    # From then on the attacker's SSO logins still land in nobody's account.
    again = attacker.sso(config, ATTACKER)
    assert again["Location"] == "/accounts/check-email/"
    assert attacker.signed_in_as() is None


def test_the_link_completes_in_the_browser_that_signed_in(config, contact, browser):
    laptop = browser()
    laptop.sso(config, ALICE, next_url="/invoices/")
    link = latest_link()
    page = laptop.client.get(link)
    assert b"Confirm and sign in" in page.content
    response = laptop.client.post(link, {"action": "confirm"})
    assert response["Location"] == "/invoices/"
    assert laptop.signed_in_as().email == "alice@example.com"
    assert AuditEvent.objects.filter(kind="verification_confirmed", detail__via="same_browser").exists()


def test_on_a_phone_the_same_halopsa_identity_gets_in(config, contact, browser):
    laptop, phone = browser(), browser()
    laptop.sso(config, ALICE, next_url="/invoices/")
    link = latest_link()
    start = phone.client.post(link, {"action": "continue"})["Location"]
    response = phone.sso(config, ALICE, start=start)
    assert response["Location"] == "/invoices/"
    assert phone.signed_in_as().email == "alice@example.com"
    assert laptop.signed_in_as() is None
    assert Identity.objects.get(sub=ALICE["sub"]).user == phone.signed_in_as()
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(kind="verification_confirmed", detail__via="sso_reauth").exists()
    assert AuditEvent.objects.filter(kind="verification_reauth_started").exists()


def test_this_wasnt_me_revokes_the_pending_identity(config, contact, browser):
    attacker, alice = browser(), browser()
    attacker.sso(config, ATTACKER)
    link = latest_link()
    response = alice.client.post(link, {"action": "deny"})
    assert response.status_code == 200 and b"nothing was linked" in response.content
    identity = Identity.objects.get(sub=ATTACKER["sub"])
    assert identity.revoked_at is not None and identity.denied_email == "alice@example.com"
    assert AuditEvent.objects.filter(kind="verification_denied").exists()
    # The link is dead, and the attacker's identity can no longer mail Alice.
    assert alice.client.get(link).status_code == 410
    assert attacker.client.post(link, {"action": "confirm"}).status_code == 410
    sent = len(mail.outbox)
    refused = attacker.sso(config, ATTACKER)
    assert refused.status_code == 403 and b"wasn" in refused.content
    assert len(mail.outbox) == sent
    assert attacker.signed_in_as() is None


def test_a_stale_claim_is_ignored(config, contact, browser, settings):
    laptop, phone = browser(), browser()
    laptop.sso(config, ALICE)
    link = latest_link()
    phone.client.post(link, {"action": "continue"})
    session = phone.client.session
    session["accounts.link_claim"]["at"] -= settings.SSO_STATE_MAX_AGE + 1
    session.save()
    response = phone.sso(config, ALICE)
    assert response["Location"] == "/accounts/check-email/"  # too late: a new link, nothing linked
    assert phone.signed_in_as() is None
