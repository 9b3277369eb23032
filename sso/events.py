"""The SSO event log: one row per sign-in attempt, with the precise reason.

Refusals are written on their own, whatever else rolls back (they are the record of what went
wrong); a successful sign-in's row commits with the sign-in itself. Rows never hold tokens, codes
or secrets: only the stable reason, a human message, and the subject/email once they are known.
"""

import json
import logging

from django.http import HttpRequest

from accounts.audit import client_ip

from .models import SSOConfig, SSOEvent

logger = logging.getLogger("sso.events")


def _text(value: str, limit: int | None = None) -> str:
    """Provider-controlled text (error descriptions, claims) made storable: PostgreSQL text cannot
    hold NUL bytes, and a hostile provider must not be able to turn a refusal into a 500."""
    value = (value or "").replace("\x00", "")
    return value[:limit] if limit else value


def _json(detail: dict) -> dict:
    return json.loads(json.dumps(detail, default=str).replace("\\u0000", ""))


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
        config_key=config.key if config is not None else _text(config_key, 40),
        outcome=outcome,
        reason=_text(reason, 60),
        message=_text(message),
        sub=_text(sub, 255),
        email=_text(email, 254),
        ip=client_ip(request),
        detail=_json(detail or {}),
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
