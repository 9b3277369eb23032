"""The SSO config and event admin: per-portal scoping, the write-only secret, URLs, Test connection."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditEvent
from sso.events import sso_event_record
from sso.models import SSOConfig, SSOEvent
from tests.docserver import docserver_fixture, oidc_provider  # noqa: F401
from tests.factories import SSOConfigFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "Sup3r-Secret-Value-42"


def sso_staff(portal, email="it@example.com"):
    """A staff user of ``portal`` with every permission on the sso app's models."""
    user = UserFactory(portal=portal, email=email, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="sso"))
    return user


@pytest.fixture
def staff_client(client, portal):
    client.force_login(sso_staff(portal))
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(portal=None, email="root@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def own(portal):
    return SSOConfigFactory(
        portal=portal, issuer="https://acme.halopsa.com/auth", client_secret=SECRET, description="Acme Halo"
    )


@pytest.fixture
def foreign(other_portal):
    return SSOConfigFactory(
        portal=other_portal, issuer="https://globex.halopsa.com/auth", description="Globex Halo"
    )


def url(name, *args):
    return reverse(f"admin:sso_{name}", args=args)


def form_data(config=None, **overrides):
    data = {
        "provider": "halopsa",
        "description": "HaloPSA",
        "issuer": "https://new.halopsa.com/auth",
        "client_id": "client-abc",
        "client_secret": "",
        "tenant": "",
        "scope": "openid profile email",
        "logout_redirect_url": "",
        "enabled": "on",
        "confirm_enable": "on",
        "show_button": "on",
    }
    if config is not None:
        data.update(
            {
                "provider": config.provider,
                "description": config.description,
                "issuer": config.issuer,
                "client_id": config.client_id,
                "tenant": config.tenant,
                "scope": config.scope,
                "logout_redirect_url": config.logout_redirect_url,
            }
        )
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- scoping -------------------------------------------------------------------------------------


def test_staff_list_only_their_portals_configs(staff_client, own, foreign):
    response = staff_client.get(url("ssoconfig_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Acme Halo" in body
    assert "Globex Halo" not in body
    assert SECRET not in body


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_staff_get_404_for_another_portals_config(staff_client, own, foreign, view):
    assert staff_client.get(url(f"ssoconfig_{view}", foreign.pk)).status_code == 404
    assert staff_client.get(url(f"ssoconfig_{view}", own.pk)).status_code == 200


def test_staff_cannot_change_another_portals_config(staff_client, foreign):
    response = staff_client.post(
        url("ssoconfig_change", foreign.pk), form_data(foreign, description="Hacked")
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.description == "Globex Halo"


def test_staff_cannot_test_another_portals_config(staff_client, foreign):
    response = staff_client.post(url("ssoconfig_test_connection", foreign.pk))
    assert response.status_code == 404
    assert not SSOEvent.objects.exists()


def test_malformed_ids_are_404(staff_client):
    assert staff_client.get(url("ssoconfig_change", "abc")).status_code == 404
    assert staff_client.post(url("ssoconfig_test_connection", "abc")).status_code == 404


def test_staff_add_is_fixed_to_their_portal(staff_client, portal, other_portal):
    response = staff_client.get(url("ssoconfig_add"))
    assert response.status_code == 200
    portal_field = response.context["adminform"].form.fields["portal"]
    assert list(portal_field.queryset) == [portal]

    # A forged POST naming another portal still lands on theirs.
    response = staff_client.post(url("ssoconfig_add"), form_data(portal=other_portal.pk))
    assert response.status_code in (200, 302)
    assert not SSOConfig.objects.filter(portal=other_portal).exists()


def test_staff_add_creates_on_their_portal(staff_client, portal):
    response = staff_client.post(
        url("ssoconfig_add"),
        form_data(
            portal=portal.pk, issuer="https://new.halopsa.com/auth/", client_secret=SECRET, tenant="acme"
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = SSOConfig.objects.get(portal=portal)
    assert config.issuer == "https://new.halopsa.com/auth"
    assert config.client_secret == SECRET
    assert re.match(r"^[a-z0-9]{6}-halopsa-[a-z0-9]{6}$", config.key)
    assert AuditEvent.objects.filter(kind="sso_config_created", portal=portal).exists()
    assert SECRET not in str(list(AuditEvent.objects.values_list("detail", flat=True)))


def test_superuser_sees_every_portal(superuser_client, own, foreign):
    body = superuser_client.get(url("ssoconfig_changelist")).content.decode()
    assert "Acme Halo" in body and "Globex Halo" in body


def test_staff_without_a_portal_is_refused(client, own):
    user = UserFactory(portal=None, email="lost@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="sso"))
    client.force_login(user)
    assert client.get(url("ssoconfig_change", own.pk)).status_code == 403


# --- the change page -----------------------------------------------------------------------------


def test_change_page_never_renders_the_secret_and_shows_the_urls(staff_client, own):
    response = staff_client.get(url("ssoconfig_change", own.pk))
    body = response.content.decode()

    assert SECRET not in body
    assert 'name="client_secret"' in body
    assert 'type="password"' in body
    assert "A secret is stored" in body
    # The two URLs to copy, with their copy buttons and hints.
    assert own.callback_url.replace("&", "&amp;") in body
    assert f"http://acme.localhost:8000/callback?iss={own.key}" in body
    assert f"http://acme.localhost:8000/sso/{own.key}/login/" in body
    assert body.count("data-sso-copy=") == 2
    assert "sso/copy.js" in body
    assert "Login Redirect URLs" in body
    assert "Portal Settings &gt; custom links" in body or "Portal Settings > custom links" in body
    # Help text says where each value is in HaloPSA.
    assert "Authorisation Server" in body
    assert "View Applications" in body
    # Test connection and the Try sign-in spot.
    assert f'action="{url("ssoconfig_test_connection", own.pk)}"' in body
    assert 'id="sso-try-signin"' in body


def test_blank_secret_keeps_the_stored_one(staff_client, own):
    response = staff_client.post(url("ssoconfig_change", own.pk), form_data(own, description="Acme Support"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    own.refresh_from_db()
    assert own.description == "Acme Support"
    assert own.client_secret == SECRET


def test_new_secret_replaces_and_clear_removes(staff_client, own):
    staff_client.post(url("ssoconfig_change", own.pk), form_data(own, client_secret="another-secret"))
    own.refresh_from_db()
    assert own.client_secret == "another-secret"

    staff_client.post(url("ssoconfig_change", own.pk), form_data(own, clear_client_secret="on"))
    own.refresh_from_db()
    assert own.client_secret == ""
    audit = AuditEvent.objects.filter(kind="sso_config_updated").first()
    assert audit.detail["fields"] == ["client_secret"]


def test_new_secret_and_clear_together_is_an_error(staff_client, own):
    response = staff_client.post(
        url("ssoconfig_change", own.pk), form_data(own, client_secret="x-new", clear_client_secret="on")
    )
    assert response.status_code == 200
    assert "not both" in response.content.decode()
    own.refresh_from_db()
    assert own.client_secret == SECRET


def test_errors_never_echo_the_secret(staff_client, own):
    response = staff_client.post(
        url("ssoconfig_change", own.pk), form_data(own, issuer="ftp://nope", client_secret="typed-secret-123")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "typed-secret-123" not in body
    assert SECRET not in body
    assert "must start with https://" in body


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("issuer", "https://x.halopsa.com/auth?tenant=1", "must not contain a query"),
        ("issuer", "https://x.halopsa.com/auth#x", "must not contain a fragment"),
        ("issuer", "https://user:pw@x.halopsa.com/auth", "must not contain a user name or password"),
        ("issuer", "x.halopsa.com/auth", "must start with https://"),
        ("scope", "profile email", "must contain “openid”"),
        ("tenant", "acme tenant", "single word"),
        ("client_id", "has space", "without spaces"),
        ("logout_redirect_url", "javascript:alert(1)", "must start with https://"),
    ],
)
def test_validation_messages_on_the_form(staff_client, portal, field, value, message):
    response = staff_client.post(url("ssoconfig_add"), form_data(portal=portal.pk, **{field: value}))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors.get(field, []))
    assert not SSOConfig.objects.exists()


def test_duplicate_issuer_names_the_existing_config(staff_client, portal, own):
    response = staff_client.post(url("ssoconfig_add"), form_data(portal=portal.pk, issuer=own.issuer + "/"))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["issuer"])
    assert f"“Acme Halo” (key {own.key})" in errors


def test_http_issuer_refused_when_insecure_is_off(staff_client, portal, settings):
    settings.SSO_ALLOW_INSECURE_HTTP = False
    response = staff_client.post(
        url("ssoconfig_add"), form_data(portal=portal.pk, issuer="http://x.halopsa.com/auth")
    )
    assert "must use https://" in " ".join(response.context["adminform"].form.errors["issuer"])


def test_key_is_not_editable(staff_client, own):
    key = own.key
    staff_client.post(url("ssoconfig_change", own.pk), form_data(own, key="aaaaaa-halopsa-aaaaaa"))
    own.refresh_from_db()
    assert own.key == key


def test_last_attempts_are_shown(staff_client, own, portal):
    for n in range(12):
        sso_event_record(
            portal=portal,
            config=own,
            outcome=SSOEvent.Outcome.FAILURE,
            reason=f"reason_{n}",
            message=f"message {n}",
            sub=f"sub-{n}",
            email=f"p{n}@example.com",
        )
    body = staff_client.get(url("ssoconfig_change", own.pk)).content.decode()
    assert "Last 10 attempts" in body
    assert "reason_11" in body and "p11@example.com" in body and "sub-11" in body
    assert "reason_2" in body
    assert "reason_1<" not in body and "reason_0" not in body


def test_delete_goes_through_the_service(staff_client, own):
    response = staff_client.post(url("ssoconfig_delete", own.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not SSOConfig.objects.exists()
    assert AuditEvent.objects.filter(kind="sso_config_deleted").exists()


# --- Test connection -----------------------------------------------------------------------------


def test_test_connection_button_shows_checks(staff_client, portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=oidc_provider(docserver))

    response = staff_client.post(url("ssoconfig_test_connection", config.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert "✓ Passed." in body
    assert "Discovery document" in body
    assert body.count('class="sso-check sso-check--ok"') >= 8
    event = SSOEvent.objects.get(config=config)
    assert event.reason == "connection_test_passed"
    # The event shows up in the config's last attempts.
    assert "connection_test_passed" in staff_client.get(url("ssoconfig_change", config.pk)).content.decode()


def test_test_connection_failure_in_plain_words(staff_client, portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=docserver.url("/wrong"))
    body = staff_client.post(url("ssoconfig_test_connection", config.pk)).content.decode()
    assert "✗ Failed." in body
    assert "Not found (HTTP 404)" in body
    assert "issuer path is probably wrong" in body


def test_a_get_of_the_test_connection_url_shows_the_config(staff_client, own):
    response = staff_client.get(url("ssoconfig_test_connection", own.pk))
    assert response.status_code == 302
    assert response["Location"] == url("ssoconfig_change", own.pk)
    assert not SSOEvent.objects.exists()  # only a POST (with its CSRF token) runs the test


def test_test_connection_is_csrf_protected(client, portal, own):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True, HTTP_HOST="acme.localhost")
    csrf_client.force_login(sso_staff(portal, email="csrf@example.com"))
    assert csrf_client.post(url("ssoconfig_test_connection", own.pk)).status_code == 403
    assert not SSOEvent.objects.exists()


def test_test_connection_needs_change_permission(client, portal, own):
    viewer = UserFactory(portal=portal, email="viewer@example.com", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_ssoconfig"))
    client.force_login(viewer)
    assert client.get(url("ssoconfig_change", own.pk)).status_code == 200
    assert client.post(url("ssoconfig_test_connection", own.pk)).status_code == 403


def test_test_connection_action_for_several(staff_client, portal, docserver):
    good = SSOConfigFactory(portal=portal, issuer=oidc_provider(docserver), description="Good")
    bad = SSOConfigFactory(portal=portal, issuer=docserver.url("/wrong"), description="Bad")

    response = staff_client.post(
        url("ssoconfig_changelist"),
        {"action": "test_connection_action", "_selected_action": [good.pk, bad.pk]},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "✓ Passed." in body and "✗ Failed." in body
    assert SSOEvent.objects.filter(outcome="test").count() == 2


def test_action_cannot_reach_another_portals_config(staff_client, foreign):
    response = staff_client.post(
        url("ssoconfig_changelist"), {"action": "test_connection_action", "_selected_action": [foreign.pk]}
    )
    assert not SSOEvent.objects.exists()
    assert response.status_code in (200, 302)


# --- the event log -------------------------------------------------------------------------------


def test_event_admin_is_read_only_and_scoped(staff_client, own, foreign, portal, other_portal):
    mine = sso_event_record(
        portal=portal, config=own, outcome="failure", reason="issuer_mismatch", email="a@x.com"
    )
    theirs = sso_event_record(portal=other_portal, config=foreign, outcome="failure", reason="bad_signature")

    body = staff_client.get(url("ssoevent_changelist")).content.decode()
    assert "issuer_mismatch" in body
    assert "bad_signature" not in body
    assert "Globex Halo" not in body  # not even as a filter choice

    assert staff_client.get(url("ssoevent_change", theirs.pk)).status_code == 404
    assert staff_client.get(url("ssoevent_change", mine.pk)).status_code == 200
    assert staff_client.get(url("ssoevent_add")).status_code == 403
    assert staff_client.post(url("ssoevent_delete", mine.pk), {"post": "yes"}).status_code == 403
    assert SSOEvent.objects.filter(pk=mine.pk).exists()


def test_event_admin_filters_and_search(staff_client, own, portal):
    other = SSOConfigFactory(portal=portal, description="Second")
    failed = sso_event_record(
        portal=portal, config=own, outcome="failure", reason="state_unknown", email="bob@example.com"
    )
    signed_in = sso_event_record(portal=portal, config=other, outcome="success", reason="", sub="sub-xyz")

    def shown(**params):
        response = staff_client.get(url("ssoevent_changelist"), params)
        assert response.status_code == 200
        return list(response.context["cl"].result_list)

    assert shown(config__id__exact=own.pk) == [failed]
    assert shown(outcome__exact="success") == [signed_in]
    assert shown(reason="state_unknown") == [failed]
    assert shown(q="sub-xyz") == [signed_in]
    assert shown(q="bob@example.com") == [failed]
