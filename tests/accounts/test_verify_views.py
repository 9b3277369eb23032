"""The verification link (GET confirm, POST verify) and the "check your email" page."""

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.link import email_verification_confirm
from accounts.models import AuditEvent, EmailVerification, Identity, User
from accounts.sso_login import VERIFICATION_SESSION_KEY, sso_identity_login
from tests.accounts.helpers import link_from, path_of
from tests.factories import PortalFactory, SSOConfigFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_login(client, portal, sso_config, django_capture_on_commit_callbacks):
    """A first SSO login made through ``client``'s session (as the SSO callback would do it)."""

    def _login(*, email="alice@example.com", next_url="/invoices/", c=None, config=None):
        c = c or client
        c.get("/login/")  # a session cookie
        session = c.session
        from django.test import RequestFactory

        request = RequestFactory().get("/callback", HTTP_HOST="acme.localhost")
        request.portal = portal
        request.session = session
        with django_capture_on_commit_callbacks(execute=True):
            result = sso_identity_login(
                request=request,
                sso_config=config or sso_config,
                issuer=(config or sso_config).issuer,
                sub="halo-42",
                email=email,
                name="Alice",
                next_url=next_url,
            )
        session.save()
        c.cookies["sessionid"] = session.session_key
        return result

    return _login


@pytest.fixture
def link(first_login):
    first_login()
    return path_of(link_from(mail.outbox[-1])[0])


def test_get_shows_a_confirm_page_and_uses_nothing(client, link):
    response = client.get(link)
    assert response.status_code == 200
    assert b"Confirm and sign in" in response.content
    assert b"a***e@example.com" in response.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert SESSION_KEY not in client.session
    assert EmailVerification.objects.get().used_at is None
    # A mail scanner opening it again changes nothing either.
    assert client.get(link).status_code == 200


def test_post_verifies_signs_in_and_lands_on_next(client, portal, link):
    client.get(link)
    before = client.session.session_key
    response = client.post(link)
    assert response.status_code == 302
    assert response["Location"] == "/invoices/"
    assert "verify" not in response["Location"]  # the token does not stay in the URL
    user = User.objects.get(portal=portal, email="alice@example.com")
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session.session_key != before
    assert VERIFICATION_SESSION_KEY not in client.session
    identity = Identity.objects.get()
    assert identity.user == user and identity.verified_at is not None
    assert AuditEvent.objects.filter(kind="verification_confirmed", user=user).exists()


def test_in_another_browser_the_link_alone_links_nothing(portal, link):
    other = Client(HTTP_HOST="acme.localhost")
    page = other.get(link)
    assert page.status_code == 200
    assert b"Continue with HaloPSA" in page.content and b"Confirm and sign in" not in page.content
    response = other.post(link)  # the confirm action, forged in a browser that did not sign in
    assert response.status_code == 403
    assert b"Continue with HaloPSA" in response.content
    assert SESSION_KEY not in other.session
    assert Identity.objects.get().user is None
    assert EmailVerification.objects.get().used_at is None
    assert AuditEvent.objects.filter(kind="verification_failed", detail__reason="other_browser").exists()


def test_continue_with_halopsa_starts_this_browsers_own_sso_sign_in(portal, sso_config, link):
    other = Client(HTTP_HOST="acme.localhost")
    response = other.post(link, {"action": "continue"})
    assert response.status_code == 302
    assert response["Location"] == f"/sso/{sso_config.key}/login/?next=%2Finvoices%2F"
    assert SESSION_KEY not in other.session
    assert AuditEvent.objects.filter(kind="verification_reauth_started").exists()


def test_the_confirm_page_says_what_is_being_linked_and_when(client, link):
    content = client.get(link).content.decode()
    verification = EmailVerification.objects.get()
    assert "A sign-in through HaloPSA as <strong>Alice</strong> at" in content
    assert verification.created_at.strftime("%H:%M") in content
    assert "wants to open your billing account" in content
    assert "This wasn&#x27;t me" in content or "This wasn't me" in content


def test_post_needs_the_csrf_token_of_the_confirm_page(portal, first_login):
    browser = Client(HTTP_HOST="acme.localhost", enforce_csrf_checks=True)
    first_login(c=browser)
    link = path_of(link_from(mail.outbox[-1])[0])
    assert browser.post(link).status_code == 403
    assert SESSION_KEY not in browser.session
    page = browser.get(link)
    token = page.context["csrf_token"]
    response = browser.post(link, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302


def test_no_next_lands_on_the_dashboard(client, first_login):
    first_login(next_url="")
    link = path_of(link_from(mail.outbox[-1])[0])
    assert client.post(link)["Location"] == "/"


def test_a_saved_next_for_another_host_is_not_followed(client, first_login):
    first_login(next_url="https://evil.example/steal")
    link = path_of(link_from(mail.outbox[-1])[0])
    assert client.post(link)["Location"] == "/"


def test_used_link_fails_cleanly(client, link):
    client.post(link)
    other = Client(HTTP_HOST="acme.localhost")
    for response in (other.get(link), other.post(link)):
        assert response.status_code == 410
        assert b"already been used" in response.content
        assert b'href="/login/"' in response.content
    assert SESSION_KEY not in other.session


def test_expired_link_fails_cleanly(client, link):
    EmailVerification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    for response in (client.get(link), client.post(link)):
        assert response.status_code == 410
        assert b"expired" in response.content
        assert b'href="/login/"' in response.content
    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.filter(kind="verification_failed", detail__reason="expired").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/verify/short/",
        "/accounts/verify/" + "A" * 43 + "/",  # well-formed, unknown
        "/accounts/verify/" + "x" * 5000 + "/",
        "/accounts/verify/" + "é" * 43 + "/",
    ],
)
def test_malformed_or_unknown_links_fail_cleanly(client, portal, path):
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 404
        assert b"not valid" in response.content
        assert response["Referrer-Policy"] == "no-referrer"


def test_a_path_like_token_is_a_plain_404(client, portal):
    assert client.get("/accounts/verify/..%2F..%2Fadmin/").status_code == 404


def test_another_portals_token_is_unknown_here(client, portal, link):
    globex = PortalFactory(name="Globex", url="http://globex.localhost:8000")
    _link, token = link_from(mail.outbox[-1])
    other = Client(HTTP_HOST="globex.localhost")
    assert other.get(link).status_code == 404
    assert other.post(link).status_code == 404
    assert email_verification_confirm(portal=globex, token=token, session=other.session, ip=None).status == (
        "unknown"
    )
    assert EmailVerification.objects.get().used_at is None
    # Still fine on its own portal.
    assert client.post(link).status_code == 302


def test_foreign_portal_token_on_this_portal(client, portal, django_capture_on_commit_callbacks):
    """A link minted for Globex, opened on Acme's host, is refused and stays usable at Globex."""
    globex = PortalFactory(name="Globex", url="http://globex.localhost:8000")
    config = SSOConfigFactory(portal=globex)
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get("/callback", HTTP_HOST="globex.localhost")
    request.portal, request.session = globex, SessionStore()
    with django_capture_on_commit_callbacks(execute=True):
        sso_identity_login(
            request=request,
            sso_config=config,
            issuer=config.issuer,
            sub="s",
            email="g@example.com",
            name="",
            next_url="",
        )
    _link, token = link_from(mail.outbox[-1])
    assert client.post(f"/accounts/verify/{token}/").status_code == 404
    assert not User.objects.filter(email="g@example.com").exists()


def test_disabled_user_cannot_use_the_link(client, user, link):
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.post(link).status_code == 403
    assert SESSION_KEY not in client.session
    assert EmailVerification.objects.get().used_at is None


# --- the "check your email" page ------------------------------------------------------------------


def test_check_email_page_shows_the_masked_address_and_a_resend_button(client, first_login):
    result = first_login()
    response = client.get(result.check_email_url)
    assert response.status_code == 200
    content = response.content.decode()
    assert "a***e@example.com" in content
    assert "alice@example.com" not in content
    assert "Send a new link" in content


def test_check_email_without_a_pending_login_goes_to_login(client, portal):
    response = client.get("/accounts/check-email/")
    assert response.status_code == 302 and response["Location"] == "/login/"


def test_resend_button_honours_the_minute_limit(client, first_login, django_capture_on_commit_callbacks):
    first_login()
    response = client.post("/accounts/check-email/", follow=True)
    assert b"wait a minute" in response.content
    assert len(mail.outbox) == 1
    EmailVerification.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/check-email/", follow=True)
    assert b"sent a new link" in response.content
    assert len(mail.outbox) == 2
    assert client.session[VERIFICATION_SESSION_KEY] == EmailVerification.objects.latest("created_at").pk


def test_check_email_for_another_portals_session_value_is_refused(client, first_login):
    first_login()
    session = client.session
    session[VERIFICATION_SESSION_KEY] = 10**9
    session.save()
    assert client.get("/accounts/check-email/")["Location"] == "/login/"


def test_second_sso_login_after_verification_needs_no_mail(client, first_login, link):
    client.post(link)
    mail.outbox.clear()
    result = first_login(c=Client(HTTP_HOST="acme.localhost"))
    assert result.user is not None and mail.outbox == []


def test_after_this_wasnt_me_the_open_check_email_page_mails_nobody(
    client, link, django_capture_on_commit_callbacks
):
    """The browser of the sign-in still shows "check your email": its resend is refused, not mailed."""
    owner = Client(HTTP_HOST="acme.localhost")
    assert owner.post(link, {"action": "deny"}).status_code == 200
    sent = len(mail.outbox)
    EmailVerification.objects.update(
        created_at=timezone.now() - timedelta(minutes=2)
    )  # past the 1-minute wait
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/check-email/", follow=True)
    assert len(mail.outbox) == sent
    assert "said a sign-in with this account wasn" in response.content.decode()
    assert AuditEvent.objects.filter(kind="verification_failed", detail__via="resend").count() == 1
    assert client.get("/accounts/check-email/").status_code == 302  # the page is gone too


def test_an_unknown_action_on_the_link_changes_nothing(client, link):
    response = client.post(link, {"action": "bogus"})
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert EmailVerification.objects.get().used_at is None
