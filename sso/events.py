"""The SSO event log: one row per sign-in attempt, with the precise reason.

Rows are written outside the request's transaction outcome (they are the record of what went
wrong), and never hold tokens, codes or secrets: only the stable reason, a human message, and
the subject/email once they are known.
"""

import logging

from django.http import HttpRequest

from .models import SSOConfig, SSOEvent

logger = logging.getLogger("sso.events")


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def sso_event_record(
    *,
    portal,
    outcome: str,
    reason: str = "",
    message: str = "",
    config: SSOConfig | None = None,
    config_key: str = "",
    request: HttpRequest | None = None,
    sub: str = "",
    email: str = "",
    detail: dict | None = None,
) -> SSOEvent:
    event = SSOEvent.objects.create(
        portal=portal,
        config=config,
        config_key=config.key if config is not None else config_key[:40],
        outcome=outcome,
        reason=reason[:60],
        message=message,
        sub=sub[:255],
        email=email[:254],
        ip=client_ip(request),
        detail=detail or {},
    )
    logger.info(
        "sso event",
        extra={
            "portal": portal.host,
            "config_key": event.config_key,
            "outcome": outcome,
            "reason": reason,
            "sub": sub,
        },
    )
    return event
