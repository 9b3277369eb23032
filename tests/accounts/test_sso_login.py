"""``sso_identity_login``: the decision the SSO callback delegates to accounts."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.utils import timezone

from accounts.link import email_verification_confirm, link_started_here_remember
from accounts.models import AuditEvent, EmailVerification, Identity, User
from accounts.services import identity_revoke
from accounts.sso_login import VERIFICATION_SESSION_KEY, SSOLoginResult, sso_identity_login
from accounts.verification import email_verification_resend
from portal.selectors import customers_for_user
from tests.accounts.helpers import link_from
from tests.factories import PortalFactory, SSOConfigFactory, UserFactory

pytestmark = pytest.mark.django_db

SUB = "halo-42"


@pytest.fixture
def browser():
    """The session of the one browser these sign-ins are made in (the link completes only there)."""
    return SessionStore()


@pytest.fixture
def sso_login(make_request, sso_config, django_capture_on_commit_callbacks, browser):
    """Call ``sso_identity_login`` as the callback would, running after-commit work (the mail)."""

    def _login(*, email="alice@example.com", sub=SUB, issuer=None, config=None, request=None, next_url="/"):
        config = config or sso_config
        request = request or make_request(session=browser)
        with django_capture_on_commit_callbacks(execute=True):
            result = sso_identity_login(
                request=request,
                sso_config=config,
                issuer=issuer or config.issuer,
                sub=sub,
                email=email,
                name="Alice Example",
                next_url=next_url,
            )
        return result, request

    return _login


def _verify_latest(portal, browser):
    _link, token = link_from(mail.outbox[-1])
    return email_verification_confirm(portal=portal, token=token, session=browser, ip=None)


def _age_verifications(by: timedelta):
    for v in EmailVerification.objects.all():
        EmailVerification.objects.filter(pk=v.pk).update(
            created_at=v.created_at - by, sent_at=(v.sent_at - by) if v.sent_at else None
        )


def test_first_login_sends_exactly_one_mail_and_does_not_sign_in(sso_login, portal, sso_config):
    result, request = sso_login(next_url="/invoices/")
    assert isinstance(result, SSOLoginResult)
    assert result.user is None
    assert result.check_email_url == "/accounts/check-email/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    identity = Identity.objects.get()
    assert result.identity == identity
    assert (identity.portal, identity.issuer, identity.sub) == (portal, sso_config.issuer, SUB)
    assert identity.email == "alice@example.com" and identity.name == "Alice Example"
    assert identity.verified_at is None and identity.user is None
    assert identity.first_login_at and identity.last_login_at
    verification = EmailVerification.objects.get()
    assert verification.next_url == "/invoices/"
    assert verification.sent_at is not None and verification.token_hash
    assert timedelta(hours=23, minutes=59) < verification.expires_at - timezone.now() <= timedelta(hours=24)
    assert request.session[VERIFICATION_SESSION_KEY] == verification.pk
    assert not User.objects.filter(email="alice@example.com").exists()


def test_repeated_login_within_a_minute_sends_no_second_mail(sso_login):
    sso_login()
    result, _ = sso_login(next_url="/invoices/")
    assert result.user is None and result.check_email_url
    assert len(mail.outbox) == 1
    assert EmailVerification.objects.count() == 1
    assert EmailVerification.objects.get().next_url == "/invoices/"  # the newest login decides


def test_login_after_a_minute_sends_a_new_link_and_the_old_one_dies(sso_login, portal, browser):
    sso_login()
    _age_verifications(timedelta(minutes=2))
    sso_login()
    assert len(mail.outbox) == 2
    first_token = link_from(mail.outbox[0])[1]
    assert (
        email_verification_confirm(portal=portal, token=first_token, session=browser, ip=None).status
        == "superseded"
    )
    assert _verify_latest(portal, browser).status == "ok"


def test_unsent_pending_link_is_reused(sso_login, monkeypatch):
    from accounts import tasks

    def broken(*a, **k):
        raise OSError("broker down")

    monkeypatch.setattr(tasks.send_email_verification, "apply_async", broken)
    sso_login()
    _age_verifications(timedelta(minutes=5))
    result, _ = sso_login()
    assert result.check_email_url
    assert EmailVerification.objects.count() == 1  # the outbox will deliver the first one
    assert mail.outbox == []


def test_verified_identity_signs_in_with_no_mail(sso_login, portal, browser, make_request):
    sso_login()
    outcome = _verify_latest(portal, browser)
    assert outcome.status == "ok"
    mail.outbox.clear()
    result, request = sso_login(request=make_request())
    assert result.user == outcome.user
    assert result.user.email == "alice@example.com" and result.user.portal == portal
    assert result.check_email_url == ""
    assert mail.outbox == []
    assert VERIFICATION_SESSION_KEY not in request.session
    identity = Identity.objects.get()
    assert identity.user == result.user and identity.verified_at is not None
    assert AuditEvent.objects.filter(kind="signed_in", detail__method="sso").exists()


def test_verification_links_to_the_existing_user_with_that_email(sso_login, portal, user, browser):
    sso_login()
    assert _verify_latest(portal, browser).user == user
    assert User.objects.filter(email="alice@example.com").count() == 1


def test_email_change_does_not_grant_access_until_verified(sso_login, portal, user, browser):
    sso_login()
    _verify_latest(portal, browser)
    mail.outbox.clear()
    result, _ = sso_login(email="Alice.New@Example.com")
    assert result.user is None  # neither the old user nor the new email
    assert result.check_email_url
    assert [m.to for m in mail.outbox] == [["alice.new@example.com"]]
    identity = Identity.objects.get()
    assert identity.email == "alice.new@example.com"
    assert identity.user == user  # the old link stays until the new email is proven
    assert not User.objects.filter(email="alice.new@example.com").exists()
    assert AuditEvent.objects.filter(kind="identity_email_changed").exists()
    # Proving the new address links the identity to that email's user.
    outcome = _verify_latest(portal, browser)
    assert outcome.status == "ok" and outcome.user.email == "alice.new@example.com"
    mail.outbox.clear()
    result, _ = sso_login(email="alice.new@example.com")
    assert result.user == outcome.user and mail.outbox == []


def test_link_for_an_email_the_provider_no_longer_reports_is_refused(sso_login, portal, browser):
    sso_login(email="old@example.com")
    old_token = link_from(mail.outbox[0])[1]
    sso_login(email="new@example.com")
    # The new login superseded the old link; even were it live, the email no longer matches.
    assert email_verification_confirm(portal=portal, token=old_token, session=browser, ip=None).status in (
        "superseded",
        "stale",
    )
    assert not User.objects.filter(email="old@example.com").exists()


def test_identity_is_keyed_by_issuer_and_sub_never_email(sso_login, portal, browser):
    sso_login()
    _verify_latest(portal, browser)
    mail.outbox.clear()
    # Same email, same portal, another issuer: another identity, not signed in.
    other_config = SSOConfigFactory(portal=portal, issuer="https://other.halopsa.example/auth")
    result, _ = sso_login(config=other_config)
    assert result.user is None and len(mail.outbox) == 1
    # Same issuer, another sub with the same email: another identity too.
    result, _ = sso_login(sub="halo-99")
    assert result.user is None and len(mail.outbox) == 2
    assert Identity.objects.count() == 3


def test_same_issuer_and_sub_on_another_portal_is_another_identity(sso_login, portal, make_request, browser):
    sso_login()
    _verify_latest(portal, browser)
    globex = PortalFactory(name="Globex", url="http://globex.localhost:8000")
    globex_config = SSOConfigFactory(portal=globex, issuer="https://acme.halopsa.example/auth")
    request = make_request()
    request.portal = globex
    result, _ = sso_login(config=globex_config, request=request)
    assert result.user is None
    assert Identity.objects.filter(portal=globex).count() == 1


@pytest.mark.parametrize("email", ["", "not-an-email", "a" * 300 + "@example.com", None])
def test_missing_or_invalid_email_is_refused(sso_login, email):
    result, _ = sso_login(email=email)
    assert result.user is None and result.check_email_url == ""
    assert "email" in result.error
    assert mail.outbox == []


def test_missing_subject_is_refused(sso_login):
    result, _ = sso_login(sub="")
    assert result.user is None and result.error
    assert not Identity.objects.exists()


def test_disabled_user_is_refused(sso_login, portal, browser):
    sso_login()
    user = _verify_latest(portal, browser).user
    User.objects.filter(pk=user.pk).update(is_active=False)
    result, _ = sso_login()
    assert result.user is None and result.error


def test_too_long_next_is_dropped(sso_login):
    sso_login(next_url="/" + "x" * 5000)
    assert EmailVerification.objects.get().next_url == ""


def test_person_with_no_contact_is_verified_but_sees_no_data(sso_login, portal, customer, browser):
    sso_login(email="stranger@example.com")
    outcome = _verify_latest(portal, browser)
    assert outcome.status == "ok"
    assert not customers_for_user(user=outcome.user, portal=portal).exists()


# --- resend limits --------------------------------------------------------------------------------


def test_resend_is_limited_to_one_a_minute(sso_login, portal):
    result, _ = sso_login()
    identity = result.identity
    assert email_verification_resend(identity=identity, ip="203.0.113.7").status == "too_soon"
    _age_verifications(timedelta(seconds=61))
    with_commit = email_verification_resend(identity=identity, ip="203.0.113.7")
    assert with_commit.status == "sent"


def test_resend_is_limited_to_five_an_hour(sso_login, django_capture_on_commit_callbacks):
    result, _ = sso_login()
    identity = result.identity
    statuses = []
    for _ in range(6):
        _age_verifications(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(email_verification_resend(identity=identity, ip="203.0.113.7").status)
    assert statuses == ["sent"] * 4 + ["hourly_limit"] * 2  # the login's own mail counts too
    assert len(mail.outbox) == 5
    # An hour later it works again.
    _age_verifications(timedelta(hours=1))
    assert email_verification_resend(identity=identity, ip="203.0.113.7").status == "sent"


def test_resend_is_limited_per_ip(portal, sso_config, sso_login):
    statuses = []
    for n in range(11):
        result, _ = sso_login(sub=f"halo-{n}", email=f"p{n}@example.com")
        _age_verifications(timedelta(seconds=61))
        statuses.append(email_verification_resend(identity=result.identity, ip="198.51.100.1").status)
    assert statuses == ["sent"] * 10 + ["ip_limit"]


def test_resend_supersedes_the_older_link(sso_login, portal, django_capture_on_commit_callbacks, browser):
    result, _ = sso_login()
    _age_verifications(timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = email_verification_resend(identity=result.identity, ip=None)
    assert outcome.status == "sent"
    assert len(mail.outbox) == 2
    old_token, new_token = link_from(mail.outbox[0])[1], link_from(mail.outbox[1])[1]
    assert (
        email_verification_confirm(portal=portal, token=old_token, session=browser, ip=None).status
        == "superseded"
    )
    # A resent link completes in the browser that asked for it (the check-email page remembers it).
    assert email_verification_confirm(portal=portal, token=new_token, session=browser, ip=None).status == (
        "other_browser"
    )
    link_started_here_remember(session=browser, verification=outcome.verification)
    assert email_verification_confirm(portal=portal, token=new_token, session=browser, ip=None).status == "ok"


def test_repeated_logins_respect_the_hourly_limit(sso_login):
    for _ in range(8):
        sso_login()
        _age_verifications(timedelta(seconds=61))
    assert len(mail.outbox) == 5


# --- revocation ------------------------------------------------------------------------------------


def test_revoked_identity_must_verify_again_and_pending_links_die(sso_login, portal, browser):
    sso_login()
    _verify_latest(portal, browser)
    _age_verifications(timedelta(minutes=2))
    identity = Identity.objects.get()
    identity_revoke(identity=identity, by_user=UserFactory(portal=portal, is_staff=True))
    identity.refresh_from_db()
    assert identity.user is None and identity.verified_at is None and identity.revoked_at is not None
    assert AuditEvent.objects.filter(kind="identity_revoked").exists()
    mail.outbox.clear()
    result, _ = sso_login()
    assert result.user is None and len(mail.outbox) == 1
    pending_token = link_from(mail.outbox[0])[1]
    identity_revoke(identity=identity)
    assert (
        email_verification_confirm(portal=portal, token=pending_token, session=browser, ip=None).status
        == "superseded"
    )
