"""Reads of SSO configs and events, always scoped to a portal."""

import re

from django.db.models import QuerySet

from portal.prepared import PreparedLookup

from .models import SSOConfig, SSOEvent


def sso_login_buttons(*, portal) -> QuerySet[SSOConfig]:
    """Configs that get a button on the portal's login page: enabled and with *show button* on."""
    return SSOConfig.objects.filter(portal=portal, enabled=True, show_button=True).order_by(
        "description", "id"
    )


#: Keys are made by ``sso.keys``; anything else (NUL bytes, unicode, 5 kB) never reaches the database.
KEY_SHAPE = re.compile(r"[a-z0-9-]{1,40}")


def sso_config_by_key(*, portal, key: str) -> SSOConfig | None:
    """The config with this public key on this portal; another portal's key is simply not found."""
    if not isinstance(key, str) or not KEY_SHAPE.fullmatch(key):
        return None
    config = _CONFIG_BY_KEY.first(portal_id=portal.pk, key=key) if portal is not None else None
    if config is not None:
        config.portal = portal  # the very row it was filtered by: no join, no second query
    return config


# Both halves of every login look the config up by key: SQL compiled once per process
# (portal/prepared.py); no ORDER BY (the key is unique), so no join on the portal for its name.
_CONFIG_BY_KEY = PreparedLookup(
    SSOConfig,
    lambda portal_id, key: SSOConfig.objects.filter(portal_id=portal_id, key=key).order_by()[:1],
    ints=("portal_id",),
    strings=("key",),
)


def sso_recent_events(*, config: SSOConfig, limit: int = 10) -> QuerySet[SSOEvent]:
    return SSOEvent.objects.filter(config=config).order_by("-created_at", "-id")[:limit]
