"""Reads of SSO configs and events, always scoped to a portal."""

from django.db.models import QuerySet

from .models import SSOConfig, SSOEvent


def sso_login_buttons(*, portal) -> QuerySet[SSOConfig]:
    """Configs that get a button on the portal's login page: enabled and with *show button* on."""
    return SSOConfig.objects.filter(portal=portal, enabled=True, show_button=True).order_by(
        "description", "id"
    )


def sso_config_by_key(*, portal, key: str) -> SSOConfig | None:
    """The config with this public key on this portal; another portal's key is simply not found."""
    if not key or len(key) > 40:
        return None
    return SSOConfig.objects.filter(portal=portal, key=key).select_related("portal").first()


def sso_recent_events(*, config: SSOConfig, limit: int = 10) -> QuerySet[SSOEvent]:
    return SSOEvent.objects.filter(config=config).order_by("-created_at", "-id")[:limit]
