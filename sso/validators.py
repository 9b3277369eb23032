"""Validation of SSO config values, shared by the admin form, the services and the ``sso`` command.

Each function takes what a person typed and returns the normalised value, or raises a
``ValidationError`` whose message says what to fix. Messages never repeat a client secret.

Why these rules:
- The issuer must equal the provider's discovery ``issuer`` exactly, and it is the base of every
  endpoint we call, so it is https (http only for local demos and tests, behind
  ``SSO_ALLOW_INSECURE_HTTP``), carries no query, fragment or credentials, and is stored without a
  trailing slash so that ``/auth`` and ``/auth/`` cannot become two configs for one provider.
- Scope, tenant and client ID end up in the authorization URL: a strict character set keeps
  them from smuggling extra parameters or surprising the provider.
"""

import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from portal.validators import halo_tenant_clean

from .models import DEFAULT_SCOPE, SSOConfig

ISSUER_MAX_LENGTH = SSOConfig._meta.get_field("issuer").max_length
LOGOUT_URL_MAX_LENGTH = SSOConfig._meta.get_field("logout_redirect_url").max_length
SCOPE_MAX_LENGTH = SSOConfig._meta.get_field("scope").max_length
TENANT_MAX_LENGTH = SSOConfig._meta.get_field("tenant").max_length
CLIENT_ID_MAX_LENGTH = SSOConfig._meta.get_field("client_id").max_length
CLIENT_SECRET_MAX_LENGTH = SSOConfig._meta.get_field("client_secret").max_length
DESCRIPTION_MAX_LENGTH = SSOConfig._meta.get_field("description").max_length

# RFC 6749 allows more in a scope token; this is the set real providers use (HaloPSA: "all",
# "read:tickets"; others: URLs such as "api://app/.default").
_SCOPE_TOKEN = re.compile(r"^[A-Za-z0-9_.:/\-]+$")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Endpoint paths people paste by mistake instead of the issuer.
_NOT_AN_ISSUER_SUFFIXES = (
    "/.well-known/openid-configuration",
    "/.well-known/jwks",
    "/.well-known/jwks.json",
    "/authorize",
    "/token",
)

HALOPSA_ISSUER_EXAMPLE = "https://<instance>.halopsa.com/auth"


def insecure_http_allowed() -> bool:
    return bool(getattr(settings, "SSO_ALLOW_INSECURE_HTTP", False))


def _allowed_schemes() -> tuple[str, ...]:
    return ("https", "http") if insecure_http_allowed() else ("https",)


def _check_web_url(value: str, *, what: str, max_length: int) -> tuple[str, object]:
    """Common checks of an absolute http(s) URL; returns the stripped value and its parts."""
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"Enter the {what}.", code="required")
    if len(value) > max_length:
        raise ValidationError(f"The {what} is too long (at most {max_length} characters).", code="max_length")
    if any(ch.isspace() for ch in value) or _CONTROL.search(value):
        raise ValidationError(f"The {what} must not contain spaces.", code="invalid")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValidationError(f"The {what} is not a valid URL.", code="invalid") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationError(
            f"The {what} must start with https:// (e.g. {HALOPSA_ISSUER_EXAMPLE}).", code="scheme"
        )
    if scheme == "http" and not insecure_http_allowed():
        raise ValidationError(
            f"The {what} must use https://, not http://. (Plain http is only allowed for local demos "
            "with SSO_ALLOW_INSECURE_HTTP.)",
            code="insecure",
        )
    if not parts.hostname:
        raise ValidationError(f"The {what} has no host name.", code="invalid")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError(f"The {what} must not contain a user name or password.", code="userinfo")
    try:
        URLValidator(schemes=list(_allowed_schemes()))(value)
    except ValidationError:
        raise ValidationError(f"The {what} is not a valid URL.", code="invalid") from None
    return value, parts


def normalize_issuer(value: str) -> str:
    """The issuer URL as stored: https, no query/fragment/userinfo, no trailing slash.

    Scheme and host are lower-cased (they are case-insensitive, and it keeps one provider from
    being entered twice); the path is kept exactly, since it must match the provider's own.
    """
    value, parts = _check_web_url(value, what="issuer URL", max_length=ISSUER_MAX_LENGTH)
    if "?" in value:
        raise ValidationError(
            "The issuer URL must not contain a query (the part after “?”). Enter the Authorisation "
            f"Server URL only, e.g. {HALOPSA_ISSUER_EXAMPLE}.",
            code="query",
        )
    if "#" in value:
        raise ValidationError(
            "The issuer URL must not contain a fragment (the part after “#”).", code="fragment"
        )
    path = parts.path.rstrip("/")
    for suffix in _NOT_AN_ISSUER_SUFFIXES:
        if path.lower().endswith(suffix):
            base = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path[: -len(suffix)], "", ""))
            raise ValidationError(
                f"That looks like an endpoint, not the issuer. Enter the Authorisation Server URL without "
                f"“{suffix}”, e.g. {base or HALOPSA_ISSUER_EXAMPLE}.",
                code="endpoint",
            )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def normalize_logout_redirect_url(value: str) -> str:
    """Where people land after signing out: empty, or an absolute http(s) URL without fragment."""
    if not (value or "").strip():
        return ""
    value, _parts = _check_web_url(value, what="logout redirect URL", max_length=LOGOUT_URL_MAX_LENGTH)
    if "#" in value:
        raise ValidationError(
            "The logout redirect URL must not contain a fragment (the part after “#”).", code="fragment"
        )
    # Kept exactly as typed otherwise: HaloPSA compares it with its registered post-logout URLs.
    return value


def normalize_scope(value: str) -> str:
    """Space-separated scope tokens, whitespace normalised, duplicates dropped; must hold ``openid``."""
    tokens = (value or "").split()
    if not tokens:
        raise ValidationError(f"Enter the scope, e.g. “{DEFAULT_SCOPE}”.", code="required")
    bad = [token for token in tokens if not _SCOPE_TOKEN.match(token)]
    if bad:
        raise ValidationError(
            "Scopes are words separated by spaces, using letters, digits and . _ - : / only; "
            f"this one is not valid: “{bad[0][:40]}”.",
            code="invalid",
        )
    unique = list(dict.fromkeys(tokens))
    if "openid" not in unique:
        raise ValidationError(
            f"The scope must contain “openid” (e.g. “{DEFAULT_SCOPE}”): without it the provider "
            "does not sign you in with OpenID Connect.",
            code="openid",
        )
    scope = " ".join(unique)
    if len(scope) > SCOPE_MAX_LENGTH:
        raise ValidationError(f"The scope is too long (at most {SCOPE_MAX_LENGTH} characters).")
    return scope


def normalize_tenant(value: str) -> str:
    return halo_tenant_clean(value, max_length=TENANT_MAX_LENGTH)


def normalize_client_id(value: str) -> str:
    client_id = (value or "").strip()
    if not client_id:
        raise ValidationError(
            "Enter the client ID (HaloPSA: Configuration > Integrations > HaloPSA API > View Applications "
            "> your application > Client ID).",
            code="required",
        )
    if len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise ValidationError(f"The client ID is too long (at most {CLIENT_ID_MAX_LENGTH} characters).")
    if not _CLIENT_ID.match(client_id):
        raise ValidationError(
            "The client ID must be printable characters without spaces; copy it again from HaloPSA.",
            code="invalid",
        )
    return client_id


def normalize_client_secret(value: str) -> str:
    """A client secret, stripped. Messages never include the value."""
    secret = (value or "").strip()
    if len(secret) > CLIENT_SECRET_MAX_LENGTH:
        raise ValidationError(
            f"The client secret is too long (at most {CLIENT_SECRET_MAX_LENGTH} characters).",
            code="max_length",
        )
    if _CONTROL.search(secret) or any(ch.isspace() for ch in secret):
        raise ValidationError(
            "The client secret must not contain spaces or control characters; copy it again from HaloPSA.",
            code="invalid",
        )
    return secret


def normalize_description(value: str) -> str:
    description = " ".join((value or "").split())
    if not description:
        raise ValidationError("Enter the button's label, e.g. “HaloPSA”.", code="required")
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(f"The label is too long (at most {DESCRIPTION_MAX_LENGTH} characters).")
    return description


def normalize_provider(value: str) -> str:
    if value not in SSOConfig.Provider.values:
        choices = ", ".join(SSOConfig.Provider.values)
        raise ValidationError(f"Unknown provider “{value}”; choose one of: {choices}.", code="invalid_choice")
    return value


def validate_issuer_unique(*, portal, issuer: str, exclude_pk: int | None = None) -> None:
    """One config per issuer and portal: two would be indistinguishable to the people signing in.

    The error names the existing config so the admin knows which one to edit instead.
    """
    existing = SSOConfig.objects.filter(portal=portal, issuer=issuer)
    if exclude_pk is not None:
        existing = existing.exclude(pk=exclude_pk)
    other = existing.first()
    if other is not None:
        raise ValidationError(
            f"This portal already has an SSO config for {issuer}: “{other.description}” (key {other.key}). "
            "Edit that config instead of adding another.",
            code="duplicate_issuer",
        )


_NORMALIZERS = {
    "provider": normalize_provider,
    "description": normalize_description,
    "issuer": normalize_issuer,
    "client_id": normalize_client_id,
    "client_secret": normalize_client_secret,
    "scope": normalize_scope,
    "tenant": normalize_tenant,
    "logout_redirect_url": normalize_logout_redirect_url,
    "enabled": bool,
    "show_button": bool,
}
CONFIG_FIELDS = tuple(_NORMALIZERS)


def sso_config_clean(*, portal, values: dict, instance: SSOConfig | None = None) -> dict:
    """Validate and normalise config values; raise one ``ValidationError`` keyed by field.

    With ``instance`` (an update), a value equal to the stored one is accepted as it is: an admin
    must always be able to, say, disable a config whose issuer predates a stricter rule.
    Returns only the fields given, normalised.
    """
    cleaned: dict = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, value in values.items():
        if name not in _NORMALIZERS:
            raise TypeError(f"Unknown SSO config field: {name}")
        if instance is not None and value == getattr(instance, name):
            cleaned[name] = value
            continue
        try:
            cleaned[name] = _NORMALIZERS[name](value)
        except ValidationError as exc:
            errors.setdefault(name, []).append(exc)
    issuer_changed = "issuer" in cleaned and (instance is None or cleaned["issuer"] != instance.issuer)
    if issuer_changed and "issuer" not in errors and portal is not None:
        try:
            validate_issuer_unique(
                portal=portal, issuer=cleaned["issuer"], exclude_pk=instance.pk if instance else None
            )
        except ValidationError as exc:
            errors.setdefault("issuer", []).append(exc)
    if errors:
        raise ValidationError(errors)
    return cleaned
