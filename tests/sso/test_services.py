"""SSO config validation and the create/update/delete services."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from sso.models import IssuedKey, SSOConfig
from sso.services import sso_config_create, sso_config_delete, sso_config_update
from sso.validators import (
    normalize_client_id,
    normalize_issuer,
    normalize_logout_redirect_url,
    normalize_scope,
    normalize_tenant,
)

pytestmark = pytest.mark.django_db

ISSUER = "https://acme.halopsa.com/auth"


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


# --- issuer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://x.halopsa.com/auth/", "https://x.halopsa.com/auth"),
        ("https://x.halopsa.com/auth///", "https://x.halopsa.com/auth"),
        ("  https://x.halopsa.com/auth  ", "https://x.halopsa.com/auth"),
        ("https://x.halopsa.com/", "https://x.halopsa.com"),
        ("HTTPS://X.HaloPSA.com/Auth", "https://x.halopsa.com/Auth"),
        ("https://support.example.com:8443/auth", "https://support.example.com:8443/auth"),
    ],
)
def test_issuer_is_normalised(typed, stored):
    assert normalize_issuer(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the issuer URL"),
        ("x.halopsa.com/auth", "must start with https://"),
        ("ftp://x.halopsa.com/auth", "must start with https://"),
        ("https://x.halopsa.com/auth?tenant=acme", "must not contain a query"),
        ("https://x.halopsa.com/auth?", "must not contain a query"),
        ("https://x.halopsa.com/auth#top", "must not contain a fragment"),
        ("https://me:pw@x.halopsa.com/auth", "must not contain a user name or password"),
        ("https://me@x.halopsa.com/auth", "must not contain a user name or password"),
        ("https://x.halopsa.com/a uth", "must not contain spaces"),
        ("https:///auth", "no host name"),
        ("https://x.halopsa.com:99999/auth", "not a valid URL"),
        (
            "https://x.halopsa.com/auth/.well-known/openid-configuration",
            "without “/.well-known/openid-configuration”",
        ),
        ("https://x.halopsa.com/auth/authorize", "e.g. https://x.halopsa.com/auth"),
        ("https://" + "a" * 300 + ".com/auth", "too long"),
    ],
)
def test_bad_issuers_are_refused_with_a_clear_message(typed, message):
    with pytest.raises(ValidationError) as exc_info:
        normalize_issuer(typed)
    assert message in " ".join(exc_info.value.messages)


def test_http_issuer_only_with_insecure_http_allowed(settings):
    settings.SSO_ALLOW_INSECURE_HTTP = True
    assert normalize_issuer("http://halo.localhost:8001/auth/") == "http://halo.localhost:8001/auth"

    settings.SSO_ALLOW_INSECURE_HTTP = False
    with pytest.raises(ValidationError, match="must use https://, not http://"):
        normalize_issuer("http://halo.localhost:8001/auth")
    assert normalize_issuer("https://halo.example.com/auth") == "https://halo.example.com/auth"


# --- other fields --------------------------------------------------------------------------------


def test_scope_whitespace_and_duplicates_are_normalised():
    assert normalize_scope("  openid\tprofile  email openid profile ") == "openid profile email"
    assert (
        normalize_scope("openid all read:tickets api://app/.default")
        == "openid all read:tickets api://app/.default"
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("profile email", "must contain “openid”"),
        ("", "Enter the scope"),
        ("openid email&prompt=none", "not valid: “email&prompt=none”"),
        ('openid "email"', "not valid"),
        ("openid " + "x" * 300, "too long"),
    ],
)
def test_bad_scopes(typed, message):
    with pytest.raises(ValidationError) as exc_info:
        normalize_scope(typed)
    assert message in " ".join(exc_info.value.messages)


def test_tenant():
    assert normalize_tenant(" acme-msp_1.eu ") == "acme-msp_1.eu"
    assert normalize_tenant("") == ""
    for bad in ("acme msp", "acme&x=1", "ünicode", "a/b"):
        with pytest.raises(ValidationError, match="single word"):
            normalize_tenant(bad)


def test_client_id():
    assert normalize_client_id(" 0a1b-2c3d ") == "0a1b-2c3d"
    for bad, message in (
        ("", "Enter the client ID"),
        ("a b", "without spaces"),
        ("abc\x00", "without spaces"),
    ):
        with pytest.raises(ValidationError, match=message):
            normalize_client_id(bad)


def test_logout_redirect_url(settings):
    assert normalize_logout_redirect_url("") == ""
    assert (
        normalize_logout_redirect_url(" https://support.acme.com/portal?x=1 ")
        == "https://support.acme.com/portal?x=1"
    )
    for bad, message in (
        ("javascript:alert(1)", "must start with https://"),
        ("https://support.acme.com/#x", "fragment"),
        ("//support.acme.com", "must start with https://"),
    ):
        with pytest.raises(ValidationError, match=message):
            normalize_logout_redirect_url(bad)
    settings.SSO_ALLOW_INSECURE_HTTP = False
    with pytest.raises(ValidationError, match="must use https://"):
        normalize_logout_redirect_url("http://support.acme.com/")


# --- create --------------------------------------------------------------------------------------


def test_create_with_defaults(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER + "/", client_id="client-1")

    assert config.pk
    assert config.issuer == ISSUER
    assert config.scope == "openid profile email"
    assert config.description == "HaloPSA"
    assert config.provider == "halopsa"
    assert not config.enabled and config.show_button  # "Test it, then enable it"
    assert config.client_secret == ""
    assert IssuedKey.objects.filter(key=config.key).exists()
    audit = AuditEvent.objects.get(kind="sso_config_created")
    assert audit.portal == portal
    assert audit.detail["config_key"] == config.key


def test_create_collects_every_error_by_field(portal):
    with pytest.raises(ValidationError) as exc_info:
        sso_config_create(
            portal=portal,
            issuer="https://x.halopsa.com/auth?x=1",
            client_id="",
            scope="email",
            tenant="a b",
            logout_redirect_url="ftp://x",
        )
    assert set(errors_of(exc_info)) == {"issuer", "client_id", "scope", "tenant", "logout_redirect_url"}
    assert not SSOConfig.objects.exists()


def test_one_issuer_once_per_portal(portal):
    first = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", description="Acme Halo")
    with pytest.raises(ValidationError) as exc_info:
        sso_config_create(portal=portal, issuer=ISSUER + "/", client_id="b")
    message = " ".join(errors_of(exc_info)["issuer"])
    assert f"already has an SSO config for {ISSUER}: “Acme Halo” (key {first.key})" in message
    assert SSOConfig.objects.count() == 1


def test_same_issuer_allowed_on_two_portals(portal, other_portal):
    a = sso_config_create(portal=portal, issuer=ISSUER, client_id="a")
    b = sso_config_create(portal=other_portal, issuer=ISSUER, client_id="b")
    assert a.key != b.key


def test_create_secret_never_in_errors_or_audit(portal):
    secret = "do-not-leak-me-123"
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", client_secret=f"  {secret} ")
    assert config.client_secret == secret
    assert secret not in str(list(AuditEvent.objects.values("detail", "kind", "email")))
    with pytest.raises(ValidationError) as exc_info:
        sso_config_create(portal=portal, issuer=ISSUER, client_id="b", client_secret="bad secret with spaces")
    assert "bad secret" not in str(exc_info.value)


def test_create_refuses_an_unknown_provider(portal):
    with pytest.raises(ValidationError, match="Unknown provider"):
        sso_config_create(portal=portal, issuer=ISSUER, client_id="a", provider="okta")


def test_oidc_provider_key_shape(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", provider="oidc")
    assert "-oidc-" in config.key


# --- update --------------------------------------------------------------------------------------


def test_update_changes_only_given_fields(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", client_secret="s1", tenant="acme")
    key, secret = config.key, config.client_secret

    sso_config_update(
        config=config, description="Sign in with Acme", show_button=False, scope="openid  email"
    )

    config.refresh_from_db()
    assert config.description == "Sign in with Acme"
    assert config.show_button is False
    assert config.scope == "openid email"
    assert config.client_secret == secret
    assert config.tenant == "acme"
    assert config.key == key
    audit = AuditEvent.objects.filter(kind="sso_config_updated").get()
    assert audit.detail["fields"] == ["description", "scope", "show_button"]


def test_update_clears_secret_with_empty_string(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", client_secret="s1")
    sso_config_update(config=config, client_secret="")
    config.refresh_from_db()
    assert config.client_secret == ""


def test_update_without_changes_writes_nothing(portal, django_assert_num_queries):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a")
    with django_assert_num_queries(0):
        sso_config_update(config=config, issuer=ISSUER, client_id="a", enabled=False)


def test_update_validates_and_keeps_issuer_unique(portal):
    sso_config_create(portal=portal, issuer=ISSUER, client_id="a", description="First")
    second = sso_config_create(portal=portal, issuer="https://other.halopsa.com/auth", client_id="b")
    with pytest.raises(ValidationError) as exc_info:
        sso_config_update(config=second, issuer=ISSUER)
    assert "“First”" in " ".join(errors_of(exc_info)["issuer"])
    with pytest.raises(ValidationError, match="openid"):
        sso_config_update(config=second, scope="profile")
    second.refresh_from_db()
    assert second.issuer == "https://other.halopsa.com/auth"


def test_update_keeps_an_unchanged_value_that_predates_a_stricter_rule(portal, settings):
    settings.SSO_ALLOW_INSECURE_HTTP = True
    config = sso_config_create(portal=portal, issuer="http://halo.localhost:8001/auth", client_id="a")
    settings.SSO_ALLOW_INSECURE_HTTP = False
    # The admin can still disable it...
    sso_config_update(config=config, issuer=config.issuer, enabled=False)
    config.refresh_from_db()
    assert config.enabled is False
    # ...but not point it at another http issuer.
    with pytest.raises(ValidationError, match="https"):
        sso_config_update(config=config, issuer="http://halo2.localhost:8001/auth")


def test_key_is_immutable(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a")
    stored = SSOConfig.objects.get(pk=config.pk)
    stored.key = "aaaaaa-halopsa-aaaaaa"
    with pytest.raises(ValueError, match="never changes"):
        stored.save()


def test_delete_keeps_the_key_reserved(portal):
    config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a")
    key = config.key
    sso_config_delete(config=config)
    assert not SSOConfig.objects.exists()
    assert IssuedKey.objects.filter(key=key).exists()
    assert AuditEvent.objects.filter(kind="sso_config_deleted", detail__config_key=key).exists()


def test_the_secret_never_reaches_the_logs(portal, caplog, django_capture_on_commit_callbacks):
    secret = "log-leak-canary-9f8e7d"
    caplog.set_level("DEBUG")
    with django_capture_on_commit_callbacks(execute=True):
        config = sso_config_create(portal=portal, issuer=ISSUER, client_id="a", client_secret=secret)
    with django_capture_on_commit_callbacks(execute=True):
        sso_config_update(config=config, client_secret=secret + "-2", description="Renamed")
    with django_capture_on_commit_callbacks(execute=True):
        sso_config_delete(config=config)
    assert "sso_config_created" in caplog.text
    assert "sso_config_updated" in caplog.text
    assert secret not in caplog.text
