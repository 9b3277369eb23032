"""Writes of SSO configs: create, update, delete, each with an audit row.

The admin form, the ``sso`` command and any future API go through these functions, so the rules
in ``sso.validators`` hold whichever door a config comes in by. The client secret is write-only:
it is stored for the token exchange and never returned, logged or put in an audit row (only the
fact that it changed is).
"""

import functools
import logging

from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from accounts.models import AuditEvent

from .discovery import forget_provider
from .models import DEFAULT_SCOPE, SSOConfig
from .validators import sso_config_clean, validate_issuer_unique

logger = logging.getLogger("sso.config")


def _audit(*, config: SSOConfig, kind: str, actor=None, fields: list[str] | None = None) -> None:
    """One audit row per change to a config; field names only, never values (the secret is one)."""
    detail = {"config_key": config.key, "issuer": config.issuer}
    if fields is not None:
        detail["fields"] = sorted(fields)
    AuditEvent.objects.create(
        portal=config.portal,
        user=actor if actor is not None and getattr(actor, "pk", None) else None,
        kind=kind,
        email=getattr(actor, "email", "") or "",
        detail=detail,
    )
    transaction.on_commit(
        lambda: logger.info(
            kind,
            extra={"portal": config.portal.host, "config_key": config.key, "fields": detail.get("fields")},
        )
    )


def _save_or_explain(config: SSOConfig, **save_kwargs) -> None:
    """Save; a duplicate issuer that slipped past validation (a concurrent save) gets the clear error."""
    try:
        with transaction.atomic():
            config.save(**save_kwargs)
    except IntegrityError:
        validate_issuer_unique(portal=config.portal, issuer=config.issuer, exclude_pk=config.pk)
        raise


@sensitive_variables("client_secret", "values", "cleaned")
def sso_config_create(
    *,
    portal,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    scope: str = DEFAULT_SCOPE,
    tenant: str = "",
    description: str = "HaloPSA",
    provider: str = SSOConfig.Provider.HALOPSA,
    logout_redirect_url: str = "",
    enabled: bool = True,
    show_button: bool = True,
    actor=None,
) -> SSOConfig:
    """Create a config with a fresh, never-used key. Raises ``ValidationError`` keyed by field."""
    values = {
        "provider": provider,
        "description": description,
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
        "tenant": tenant,
        "logout_redirect_url": logout_redirect_url,
        "enabled": enabled,
        "show_button": show_button,
    }
    cleaned = sso_config_clean(portal=portal, values=values)
    config = SSOConfig(portal=portal, **cleaned)
    with transaction.atomic():
        _save_or_explain(config)
        _audit(config=config, kind="sso_config_created", actor=actor)
    return config


@sensitive_variables("client_secret", "values", "cleaned")
def sso_config_update(
    *,
    config: SSOConfig,
    issuer: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    scope: str | None = None,
    tenant: str | None = None,
    description: str | None = None,
    provider: str | None = None,
    logout_redirect_url: str | None = None,
    enabled: bool | None = None,
    show_button: bool | None = None,
    actor=None,
) -> SSOConfig:
    """Change the given fields (``None`` leaves a field as it is; ``client_secret=""`` clears it).

    The key and the portal never change: both are part of URLs registered at the provider.
    Only changed fields are written (``update_fields``), and an unchanged call writes nothing.

    A new issuer or client ID clears the stored secret unless this same call sets one: the secret
    belongs to one application at one provider, and kept, it would be sent (as ``Basic`` auth) to
    whatever token endpoint the new issuer names, an address the person editing chose.
    """
    values = {
        name: value
        for name, value in {
            "provider": provider,
            "description": description,
            "issuer": issuer,
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
            "tenant": tenant,
            "logout_redirect_url": logout_redirect_url,
            "enabled": enabled,
            "show_button": show_button,
        }.items()
        if value is not None
    }
    cleaned = sso_config_clean(portal=config.portal, values=values, instance=config)
    changed = [name for name, value in cleaned.items() if getattr(config, name) != value]
    if client_secret is None and config.client_secret and {"issuer", "client_id"} & set(changed):
        cleaned["client_secret"] = ""
        changed.append("client_secret")
    if not changed:
        return config
    old_issuer = config.issuer
    for name in changed:
        setattr(config, name, cleaned[name])
    with transaction.atomic():
        _save_or_explain(config, update_fields=[*changed, "updated_at"])
        # An edited config deserves a fresh look at its provider, not the last failure's back-off.
        for issuer in {old_issuer, config.issuer}:
            transaction.on_commit(functools.partial(forget_provider, issuer, portal_id=config.portal_id))
        _audit(config=config, kind="sso_config_updated", actor=actor, fields=changed)
    return config


def sso_config_delete(*, config: SSOConfig, actor=None) -> None:
    """Delete a config. Its key stays reserved (``IssuedKey``) and its events stay in the log."""
    with transaction.atomic():
        _audit(config=config, kind="sso_config_deleted", actor=actor)
        config.delete()
