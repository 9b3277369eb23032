"""Writes of the halo app: connecting a portal to HaloPSA's API and changing that connection."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from portal import outbound
from portal.models import Portal
from portal.validators import halo_tenant_clean

from .models import HaloConnection, new_webhook_secret


def api_url_from_issuer(issuer: str) -> str:
    """HaloPSA's resource server beside its authorisation server: ``…/auth`` becomes ``…/api``."""
    base = (issuer or "").rstrip("/")
    return f"{base[: -len('/auth')]}/api" if base.endswith("/auth") else ""


def auth_url_from_api(api_url: str) -> str:
    base = (api_url or "").rstrip("/")
    return f"{base[: -len('/api')]}/auth" if base.endswith("/api") else ""


def halo_defaults_for_portal(*, portal: Portal) -> dict:
    """Prefill from the portal's HaloPSA SSO config: the same instance, tenant included."""
    config = portal.sso_configs.filter(provider="halopsa").order_by("created_at").first()
    if config is None:
        return {}
    return {
        "api_url": api_url_from_issuer(config.issuer),
        "auth_url": config.issuer.rstrip("/"),
        "tenant": config.tenant,
    }


#: The connection's two URLs, how messages name them and what one looks like (the admin form and ``_check``
#: alike).
URL_FIELDS = (
    ("api_url", "API URL", "https://acme.halopsa.com/api"),
    ("auth_url", "authorisation server URL", "https://acme.halopsa.com/auth"),
)
TENANT_MAX_LENGTH = HaloConnection._meta.get_field("tenant").max_length


def url_extras_problem(url: str, *, what: str, example: str) -> str:
    """Why ``url`` cannot be a base for API paths ("" when it can): paths are appended to it, so a
    query or fragment would end up in the middle of every request's URL. The characters are looked
    for, not ``urlsplit``'s parts: a bare "?" or "#" has an empty part, yet ``…/api?`` is no ``…/api``
    (the authorisation server URL derived from it came out empty and was blamed instead)."""
    if "?" in (url or "") or "#" in (url or ""):
        return f"Give the {what} without “?…” or “#…”, e.g. {example}."
    return ""


def _check(connection: HaloConnection) -> None:
    """What the admin form refuses, refused here too (``manage.py halo connect`` has no form)."""
    try:
        connection.tenant = halo_tenant_clean(connection.tenant, max_length=TENANT_MAX_LENGTH)
    except ValidationError as exc:
        raise ValidationError({"tenant": exc.messages}) from exc
    for field, what, example in URL_FIELDS:
        if problem := url_extras_problem(getattr(connection, field), what=what, example=example):
            raise ValidationError({field: problem})
        try:
            outbound.check_url(getattr(connection, field), what=what)
        except outbound.OutboundError as exc:
            raise ValidationError({field: exc.message}) from exc
    connection.full_clean(exclude=["portal", "webhook_secret"])


@transaction.atomic
def halo_connection_connect(
    *,
    portal: Portal,
    client_id: str,
    client_secret: str,
    tenant: str | None = None,
    api_url: str = "",
    auth_url: str = "",
    invoice_access: str | None = None,
    scope: str | None = None,
) -> HaloConnection:
    """Create or update the portal's connection (``manage.py halo connect``); the webhook secret stays."""
    defaults = halo_defaults_for_portal(portal=portal)
    connection = HaloConnection.objects.select_for_update().filter(portal=portal).first() or HaloConnection(
        portal=portal
    )
    connection.api_url = (api_url or defaults.get("api_url") or connection.api_url or "").rstrip("/")
    connection.auth_url = (
        auth_url or defaults.get("auth_url") or auth_url_from_api(connection.api_url) or connection.auth_url
    ).rstrip("/")
    connection.client_id = client_id
    if client_secret:
        connection.client_secret = client_secret
    if tenant is not None:
        connection.tenant = tenant
    elif not connection.pk:
        connection.tenant = defaults.get("tenant", "")
    if scope:
        connection.scope = scope
    if not connection.api_url:
        raise ValidationError(
            {"api_url": "Give the API URL (there is no HaloPSA SSO config to take it from)."}
        )
    _check(connection)
    connection.save()
    if invoice_access:
        if invoice_access not in Portal.InvoiceAccess.values:
            raise ValidationError({"invoice_access": "Use “emails” or “halo”."})
        portal.invoice_access = invoice_access
        portal.save(update_fields=["invoice_access"])
    return connection


@transaction.atomic
def halo_webhook_secret_rotate(*, connection: HaloConnection) -> HaloConnection:
    connection.webhook_secret = new_webhook_secret()
    connection.save(update_fields=["webhook_secret", "updated_at"])
    return connection


def halo_webhook_register(*, connection: HaloConnection) -> dict:
    """Register (or update) the portal's webhook at HaloPSA (``POST /api/Webhook``, scope admin:webhooks).

    Basic authentication with the connection's username and secret; the events are the objects the sync
    reads. Optional: an admin may instead paste the URL and secret into HaloPSA by hand.
    """
    from .client import HaloAPIError, HaloClient

    with outbound.budget(settings.HALO_INTERACTIVE_SECONDS):  # an admin is waiting on the action
        client = HaloClient(connection, interactive=True)
        existing = client.get("Webhook")
        rows = existing.get("webhooks") if isinstance(existing, dict) else existing
        if not isinstance(rows, list):  # unreadable: registering now could add a second webhook
            raise HaloAPIError("bad_answer", "/Webhook did not answer with a list of webhooks.")
        hook_id = next(
            (r.get("id") for r in rows if isinstance(r, dict) and r.get("url") == connection.webhook_url),
            None,
        )
        payload = {
            "url": connection.webhook_url,
            "events": ["invoice_updated", "invoice_deleted", "client_updated", "client_deleted", "user_updated",
                       "user_deleted"],
            "active": True,
            "authentication_type": "basic",
            "basic_username": connection.webhook_username,
            "basic_password": connection.webhook_secret,
        }  # fmt: skip
        if hook_id:
            payload["id"] = hook_id
        saved = client.post("Webhook", [payload])
        return saved[0] if isinstance(saved, list) and saved else {}
