"""HaloPSA's "Can view their invoices" at sign-in, and sessions ending when a sync sees it go off."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from halo.access import invoice_access_at_signin
from halo.models import HaloConnection
from halo.sync import halo_sync_run
from portal.models import Contact, Portal
from tests.factories import UserFactory
from tests.halo.conftest import clients, invoices

pytestmark = pytest.mark.django_db

ALICE = {"id": 201, "name": "Alice", "emailaddress": "alice@example.com", "client_id": 1}


@pytest.fixture
def halo_portal(portal, connection, halo):
    portal.invoice_access = Portal.InvoiceAccess.HALO
    portal.save(update_fields=["invoice_access"])
    halo.seed_api(clients=clients(1), users=[{**ALICE, "canaccessinvoices": True}], invoices=invoices(2))
    assert halo_sync_run(connection=connection).status == "ok"
    return portal


def signed_in(client, portal):
    user = UserFactory(portal=portal, email="alice@example.com")
    client.force_login(user, backend="accounts.backends.PortalPasswordBackend")
    return user


def test_allowed_user_sees_synced_invoices(client, halo_portal):
    signed_in(client, halo_portal)
    page = client.get("/invoices/")
    assert page.status_code == 200 and b"INV-1" in page.content


def test_sync_seeing_the_flag_go_off_ends_the_session(client, halo_portal, connection, halo):
    signed_in(client, halo_portal)
    assert client.get("/").status_code == 200
    halo.change("user", 201, notify=False, canaccessinvoices=False)
    run = halo_sync_run(connection=connection)
    assert run.counts["sessions_ended"] == 1
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert AuditEvent.objects.filter(detail__reason="halo_sync").exists()


def test_emails_rule_ignores_the_flag(client, portal, connection, halo):
    halo.seed_api(clients=clients(1), users=[{**ALICE, "canaccessinvoices": False}], invoices=invoices(1))
    halo_sync_run(connection=connection)
    signed_in(client, portal)
    assert b"INV-1" in client.get("/invoices/").content
    assert invoice_access_at_signin(portal=portal, email="alice@example.com").allowed


def test_stale_flag_is_refreshed_live_with_one_call(halo_portal, halo):
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))
    halo.change("user", 201, notify=False, canaccessinvoices=False)
    halo.reset_stats()
    access = invoice_access_at_signin(portal=halo_portal, email="alice@example.com")
    assert (access.allowed, access.source) == (False, "halo_live")
    assert halo.count("/api/Users") == 1


def test_fresh_flag_asks_nobody(halo_portal, halo):
    halo.reset_stats()
    access = invoice_access_at_signin(portal=halo_portal, email="Alice@Example.com")
    assert (access.allowed, access.source) == (True, "halo_synced")
    assert halo.count("/api/Users") == 0


def test_halopsa_down_at_signin_falls_back_to_the_synced_flag(halo_portal, connection, halo, settings):
    settings.HALO_MAX_RETRIES = 0
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))
    halo.knobs(fail={"path": "/api/Users", "count": 5, "status": 503})
    access = invoice_access_at_signin(portal=halo_portal, email="alice@example.com")
    assert (access.allowed, access.source) == (True, "halo_unreachable")
    HaloConnection.objects.filter(pk=connection.pk).update(api_url="http://127.0.0.1:9/api")
    access = invoice_access_at_signin(portal=halo_portal, email="alice@example.com")
    assert (access.allowed, access.source) == (True, "halo_unreachable")


def test_email_code_sign_in_without_permission_gets_the_ask_your_provider_page(
    client, halo_portal, halo, django_capture_on_commit_callbacks
):
    from django.core import mail

    from tests.accounts.helpers import code_from

    halo.change("user", 201, notify=False, canaccessinvoices=False)
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/", {"email": "alice@example.com"})
    code = code_from(mail.outbox[-1])
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 403
    assert b"Ask your provider for invoice access" in response.content
    assert "_auth_user_id" not in client.session


def test_sso_sign_in_without_permission_is_refused_with_the_ask_your_provider_message(
    rf, halo_portal, halo, connection
):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import Identity
    from accounts.sso_login import sso_identity_login
    from tests.factories import SSOConfigFactory

    config = SSOConfigFactory(portal=halo_portal, issuer=f"{halo.base_url}/auth")
    user = UserFactory(portal=halo_portal, email="alice@example.com")
    Identity.objects.create(
        portal=halo_portal, sso_config=config, issuer=config.issuer, sub="s-1", email=user.email, user=user,
        verified_at=timezone.now(),
    )  # fmt: skip
    request = rf.get("/callback")
    request.session = SessionStore()
    login = {"request": request, "sso_config": config, "issuer": config.issuer, "sub": "s-1",
             "email": "alice@example.com", "name": "Alice", "next_url": ""}  # fmt: skip
    assert sso_identity_login(**login).user == user
    halo.change("user", 201, notify=False, canaccessinvoices=False)
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))
    refused = sso_identity_login(**login)
    assert refused.user is None and "ask your provider for invoice access" in refused.error


def test_halopsa_down_at_code_sign_in_is_logged(
    client, halo_portal, connection, django_capture_on_commit_callbacks
):
    from django.core import mail

    from tests.accounts.helpers import code_from

    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))
    HaloConnection.objects.filter(pk=connection.pk).update(
        api_url="http://127.0.0.1:9/api", auth_url="http://127.0.0.1:9/auth"
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/", {"email": "alice@example.com"})
    response = client.post("/login/code/", {"code": code_from(mail.outbox[-1])})
    assert response.status_code == 302  # the synced flag allowed it
    signed_in = AuditEvent.objects.filter(kind="signed_in").latest("pk")
    assert signed_in.detail["invoice_access"] == "halo_unreachable"


def _first_sso_login(client, portal, config, capture):
    """A first SSO sign-in through ``client``'s session (as the callback makes it): mails a link."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    from accounts.sso_login import sso_identity_login

    session = SessionStore()
    request = RequestFactory().get("/callback", HTTP_HOST=portal.host)
    request.portal, request.session = portal, session
    with capture(execute=True):
        result = sso_identity_login(
            request=request, sso_config=config, issuer=config.issuer, sub="s-1",
            email="alice@example.com", name="Alice", next_url="",
        )  # fmt: skip
    session.save()
    client.cookies["sessionid"] = session.session_key
    return result


def _access_off(halo, *, allowed: bool = False):
    halo.change("user", 201, notify=False, canaccessinvoices=allowed)
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))  # asked live


def test_a_first_sso_sign_in_completed_by_the_mailed_link_is_refused_without_invoice_access(
    client, halo_portal, halo, connection, django_capture_on_commit_callbacks
):
    from django.contrib.auth import SESSION_KEY
    from django.core import mail

    from accounts.models import Identity
    from tests.accounts.helpers import link_from, path_of
    from tests.factories import SSOConfigFactory

    config = SSOConfigFactory(portal=halo_portal, issuer=f"{halo.base_url}/auth")
    assert _first_sso_login(client, halo_portal, config, django_capture_on_commit_callbacks).check_email_url
    link = path_of(link_from(mail.outbox[-1])[0])
    _access_off(halo)

    response = client.post(link, {"action": "confirm"})

    assert response.status_code == 403
    assert b"Ask your provider for invoice access" in response.content
    assert SESSION_KEY not in client.session
    identity = Identity.objects.get(portal=halo_portal, sub="s-1")
    assert identity.user_id is None and identity.verified_at is None  # nothing linked
    refusal = AuditEvent.objects.filter(kind="verification_failed").latest("pk")
    assert refusal.detail["reason"] == "no_invoice_access"
    assert refusal.detail["invoice_access"] == "halo_live"
    # Once the provider grants access, the same link signs the person in.
    _access_off(halo, allowed=True)
    assert client.post(link, {"action": "confirm"}).status_code == 302
    assert client.session[SESSION_KEY]


def test_a_link_completed_by_an_sso_sign_in_in_another_browser_is_refused_without_invoice_access(
    client, halo_portal, halo, connection, django_capture_on_commit_callbacks
):
    import time

    from django.contrib.sessions.backends.db import SessionStore
    from django.core import mail
    from django.test import RequestFactory

    from accounts.link import CLAIM_KEY
    from accounts.models import EmailVerification, Identity
    from accounts.sso_login import sso_identity_login
    from tests.factories import SSOConfigFactory

    config = SSOConfigFactory(portal=halo_portal, issuer=f"{halo.base_url}/auth")
    _first_sso_login(client, halo_portal, config, django_capture_on_commit_callbacks)
    mails = len(mail.outbox)
    verification = EmailVerification.objects.get(identity__sub="s-1")
    _access_off(halo)
    # The other browser opened the link ("Continue with HaloPSA") and signs in as the same identity.
    elsewhere = SessionStore()
    elsewhere[CLAIM_KEY] = {"verification": verification.pk, "at": int(time.time())}
    request = RequestFactory().get("/callback", HTTP_HOST=halo_portal.host)
    request.portal, request.session = halo_portal, elsewhere

    with django_capture_on_commit_callbacks(execute=True):
        result = sso_identity_login(
            request=request, sso_config=config, issuer=config.issuer, sub="s-1",
            email="alice@example.com", name="Alice", next_url="",
        )  # fmt: skip

    assert result.user is None and "ask your provider for invoice access" in result.error
    assert Identity.objects.get(portal=halo_portal, sub="s-1").user_id is None
    assert len(mail.outbox) == mails  # refused, not answered with yet another link


def test_an_sso_sign_in_asks_halopsa_before_its_transaction_so_no_row_stays_locked_meanwhile(
    client, halo_portal, halo, monkeypatch
):
    """A slow HaloPSA must not hold the identity row locked (nor a transaction open) while it answers."""
    from django.db import connection as db

    from accounts.models import Identity
    from halo import access
    from tests.factories import SSOConfigFactory
    from tests.oidc_op import TinyOP
    from tests.sso.conftest import Journey

    op = TinyOP()
    try:
        config = SSOConfigFactory(portal=halo_portal, issuer=op.issuer, client_id=op.client_id)
        user = UserFactory(portal=halo_portal, email="alice@example.com")
        Identity.objects.create(
            portal=halo_portal, sso_config=config, issuer=op.issuer, sub="halo-user-1", email=user.email,
            user=user, verified_at=timezone.now(),
        )  # fmt: skip
        Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))  # stale: ask live
        halo.reset_stats()
        depth_at_call, real_get = [], access.HaloClient.get

        def observed_get(self, *args, **kwargs):
            depth_at_call.append(len(db.atomic_blocks))
            return real_get(self, *args, **kwargs)

        monkeypatch.setattr(access.HaloClient, "get", observed_get)
        outside = len(db.atomic_blocks)  # the test's own transaction

        response = Journey(client, op).login(config)

        assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)
        assert halo.count("/api/Users") == 1  # asked once, live
        assert depth_at_call == [outside]  # and with no transaction of the sign-in open
    finally:
        op.stop()


@pytest.mark.django_db(transaction=True)
def test_an_email_code_sign_in_holds_no_row_locked_while_halopsa_answers(client, halo_portal, halo):
    """The code check asks HaloPSA (up to its interactive budget) with nothing locked and no transaction
    open: a second request for the same email (another tab, the same code again) is answered at once
    instead of waiting on the code's row until the web statement timeout. The code still works once."""
    import time

    from django.core import mail
    from django.test import Client

    from accounts.models import LoginCode, LoginCodeFailureDay
    from accounts.views import LOGIN_EMAIL_KEY
    from tests.accounts.helpers import code_from
    from tests.rowlocks import InThread, row_lockable, transactions_open_elsewhere

    client.post("/login/", {"email": "alice@example.com"})  # committed: its mail task runs at once
    code = code_from(mail.outbox[-1])
    typo = f"{(int(code) + 1) % 10**6:06d}"
    assert client.post("/login/code/", {"code": typo}).status_code == 400  # the day's failure row exists
    Contact.objects.update(halo_checked_at=timezone.now() - timedelta(hours=1))  # stale: ask live
    halo.reset_stats()
    halo.knobs(slow=3.0)  # the stand-in answers one request at a time: no asking it meanwhile
    try:
        first = InThread(lambda: client.post("/login/code/", {"code": code}))
        time.sleep(1.0)  # the check is waiting on HaloPSA by now (it takes a few ms to get there)
        assert first.running()
        row = LoginCode.objects.get()
        day = LoginCodeFailureDay.objects.get()
        assert row_lockable(LoginCode, row.pk), "the code's row is locked while HaloPSA answers"
        assert row_lockable(LoginCodeFailureDay, day.pk), "the email's failure budget is locked meanwhile"
        assert transactions_open_elsewhere() == 0
        other = Client(HTTP_HOST=halo_portal.host)  # the same code from another browser, meanwhile
        session = other.session
        session[LOGIN_EMAIL_KEY] = "alice@example.com"
        session.save()
        again = InThread(lambda: other.post("/login/code/", {"code": code}))
        assert again.result().status_code == 400 and "_auth_user_id" not in other.session  # used once
        assert first.running()
        response = first.result()
    finally:
        halo.knobs(reset=True)
    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert halo.count("/api/Users") == 1
    assert AuditEvent.objects.filter(kind="signed_in", detail__invoice_access="halo_live").count() == 1
