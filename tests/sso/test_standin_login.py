"""The whole SSO journey against the HaloPSA stand-in (django-oauth-toolkit) over real HTTP.

Our side runs in Django's test client; the browser's side at the provider is a ``requests``
session signed in at the stand-in. Provider calls are counted by the stand-in itself.
"""

import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.core import mail

from sso.models import SSOEvent
from tests.factories import SSOConfigFactory
from tests.sso.conftest import query_of

VERIFY_LINK = re.compile(r"http://acme\.localhost:8000(/accounts/verify/[^/\s\"<>]+/)")


@pytest.fixture
def halo_user(standin):
    email = f"alice+{uuid.uuid4().hex[:8]}@example.com"
    info = standin.add_user(email, "alice-password", "Alice Example")
    return {"email": email, "password": "alice-password", "sub": info["sub"]}


@pytest.fixture
def halo_config(portal, standin):
    config = SSOConfigFactory(
        portal=portal,
        issuer=standin.issuer,
        client_id=f"portal-{uuid.uuid4().hex[:8]}",
        tenant=standin.tenant,
        logout_redirect_url=standin.portal_url,
    )
    standin.add_client(
        config.client_id, redirect_uris=[config.callback_url], post_logout_redirect_uris=[standin.portal_url]
    )
    return config


@pytest.fixture
def contact_for(customer):
    from tests.factories import ContactFactory

    def make(email: str):
        return ContactFactory(customer=customer, email=email)

    return make


@pytest.fixture
def browser(standin, halo_user):
    """The person's browser at the stand-in, already signed in to HaloPSA."""
    return standin.login_session(halo_user["email"], halo_user["password"])


class SSO:
    def __init__(self, client, browser, django_capture_on_commit_callbacks):
        self.client = client
        self.browser = browser
        self.capture = django_capture_on_commit_callbacks

    def start(self, config, next_url: str | None = None) -> str:
        response = self.client.get(f"/sso/{config.key}/login/", {"next": next_url} if next_url else {})
        assert response.status_code == 302, response.content[:300]
        return response["Location"]

    def at_provider(self, url: str) -> str:
        response = self.browser.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def finish(self, callback_url: str):
        parts = urlsplit(callback_url)
        assert f"{parts.scheme}://{parts.netloc}" == "http://acme.localhost:8000"
        with self.capture(execute=True):
            return self.client.get(f"{parts.path}?{parts.query}")

    def login(self, config, next_url: str | None = None):
        return self.finish(self.at_provider(self.start(config, next_url)))

    def confirm_from_mail(self):
        link = VERIFY_LINK.search(mail.outbox[-1].body).group(1)
        assert self.client.get(link).status_code == 200
        with self.capture(execute=True):
            return self.client.post(link)


@pytest.fixture
def sso(client, browser, django_capture_on_commit_callbacks):
    return SSO(client, browser, django_capture_on_commit_callbacks)


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_first_login_mails_a_link_and_the_link_signs_in_at_next(sso, halo_config, halo_user, contact_for):
    contact_for(halo_user["email"])

    response = sso.login(halo_config, next_url="/invoices/")

    assert response.status_code == 302
    assert signed_in_user_id(sso.client) is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [halo_user["email"]]
    event = SSOEvent.objects.filter(config=halo_config).latest("id")
    assert (event.outcome, event.sub, event.email) == ("verify", halo_user["sub"], halo_user["email"])

    confirmed = sso.confirm_from_mail()

    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/invoices/"
    assert signed_in_user_id(sso.client) is not None
    assert sso.client.get("/invoices/").status_code == 200


def test_returning_login_makes_exactly_one_provider_call_and_sends_no_mail(
    sso, halo_config, halo_user, contact_for, standin
):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()
    sso.client.post("/logout/")
    mail.outbox.clear()
    standin.reset_stats()

    response = sso.login(halo_config, next_url="/profile/")

    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    assert signed_in_user_id(sso.client) is not None
    assert mail.outbox == []
    counts = standin.stats()["counts"]
    server_calls = {path: n for path, n in counts.items() if path != "/auth/authorize/"}
    assert server_calls == {"/auth/token/": 1}, counts  # no discovery, JWKS or userinfo call


def test_tenant_is_sent_on_authorize_and_token_requests(sso, halo_config, standin):
    standin.reset_stats()

    authorize = sso.start(halo_config)
    assert query_of(authorize)["tenant"] == "demo"
    sso.finish(sso.at_provider(authorize))

    tenants = standin.stats()["tenants"]
    assert tenants["/auth/authorize/"] == ["demo"]
    assert tenants["/auth/token/"] == ["demo"]


def test_session_key_rotates_at_login(sso, halo_config, halo_user, contact_for):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()
    sso.client.post("/logout/")
    sso.client.get("/login/")
    before = sso.client.session.session_key

    sso.login(halo_config)

    assert sso.client.session.session_key != before


def test_logout_goes_through_the_end_session_endpoint(sso, halo_config, halo_user, contact_for, standin):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()
    sso.client.post("/logout/")
    sso.login(halo_config)  # a session that came from SSO, with an ID token

    response = sso.client.post("/logout/")

    assert response.status_code == 302
    end_session = response["Location"]
    assert end_session.startswith(f"{standin.issuer}/logout/")
    params = query_of(end_session)
    assert params["client_id"] == halo_config.client_id
    assert params["post_logout_redirect_uri"] == standin.portal_url
    assert params["tenant"] == "demo"
    assert params["id_token_hint"].count(".") == 2
    assert signed_in_user_id(sso.client) is None
    landed = sso.browser.get(end_session, allow_redirects=False, timeout=10)
    assert landed.status_code == 302
    assert landed.headers["Location"] == standin.portal_url
    # The stand-in's session is gone too: authorizing now asks the person to sign in again.
    again = sso.browser.get(sso.start(halo_config), allow_redirects=False, timeout=10)
    assert "/login/" in again.headers["Location"]


def test_two_tabs_can_log_in_at_once(sso, halo_config, halo_user, contact_for):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()
    sso.client.post("/logout/")

    first_tab = sso.at_provider(sso.start(halo_config, next_url="/invoices/"))
    second_tab = sso.at_provider(sso.start(halo_config, next_url="/profile/"))

    assert sso.finish(second_tab)["Location"] == "/profile/"
    assert sso.finish(first_tab)["Location"] == "/invoices/"
    assert signed_in_user_id(sso.client) is not None


def test_wrong_tenant_is_reported_by_the_provider(sso, halo_config, standin):
    halo_config.tenant = "not-our-tenant"
    halo_config.save()

    response = sso.browser.get(sso.start(halo_config), allow_redirects=False, timeout=10)

    assert response.status_code == 400


def test_logout_after_a_verification_link_also_ends_the_provider_session(
    sso, halo_config, halo_user, contact_for
):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()  # signed in by the link, in the browser that started the login

    response = sso.client.post("/logout/")

    params = query_of(response["Location"])
    assert response["Location"].startswith(f"{halo_config.issuer}/logout/")
    assert params["id_token_hint"].count(".") == 2


def test_a_link_opened_on_another_device_completes_through_its_own_halopsa_sign_in(
    sso, halo_config, halo_user, contact_for
):
    contact_for(halo_user["email"])
    sso.login(halo_config, next_url="/invoices/")
    sso.client.cookies.clear()  # the mail is opened on another device
    link = VERIFY_LINK.search(mail.outbox[-1].body).group(1)
    page = sso.client.get(link)
    assert b"Continue with HaloPSA" in page.content
    assert b"as <strong>Alice Example</strong>" in page.content
    response = sso.client.post(link, {"action": "continue"})
    assert response.status_code == 302 and response["Location"].startswith(f"/sso/{halo_config.key}/login/")
    login_start = sso.client.get(response["Location"])
    assert login_start.status_code == 302
    response = sso.finish(sso.at_provider(login_start["Location"]))

    assert response.status_code == 302 and response["Location"] == "/invoices/"
    assert signed_in_user_id(sso.client) is not None
    assert len(mail.outbox) == 1  # no second link: this device proved the same HaloPSA identity
    # This device signed in through HaloPSA itself, so its logout carries its own ID token.
    logout = sso.client.post("/logout/")
    assert logout["Location"].startswith(f"{halo_config.issuer}/logout/")
    assert query_of(logout["Location"])["id_token_hint"].count(".") == 2


def test_the_new_user_gets_the_name_the_provider_sent(
    sso, halo_config, halo_user, contact_for, django_user_model
):
    contact_for(halo_user["email"])
    sso.login(halo_config)
    sso.confirm_from_mail()

    assert django_user_model.objects.get(email=halo_user["email"]).name == "Alice Example"
