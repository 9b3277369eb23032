"""HaloPSA's webhook: authenticate, log, queue a re-read. Fast, and never trusting the payload.

HaloPSA offers HTTP basic auth or a custom header for its webhooks; both are accepted: basic with the
connection's ``webhook_username`` and secret, or ``Authorization: Bearer <secret>``. Compared in
constant time. The body only names what changed (object kind and id); the task re-reads it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from django.db import transaction
from django.utils.crypto import constant_time_compare

from .models import HaloConnection, WebhookDelivery

#: Keys under which HaloPSA-style payloads name the object and its id (first match wins).
KIND_KEYS = ("object", "object_type", "entity", "type", "event")
ID_KEYS = ("id", "object_id", "entity_id", "invoice_id", "client_id", "user_id")


@dataclass(frozen=True)
class WebhookOutcome:
    status: int
    reason: str


def webhook_authenticated(*, connection: HaloConnection, authorization: str) -> bool:
    secret = connection.webhook_secret or ""
    if not secret:
        return False
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        return constant_time_compare(value.strip(), secret)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 once decoded
            return False
        username, _, password = decoded.partition(":")
        return constant_time_compare(username, connection.webhook_username) & constant_time_compare(
            password, secret
        )
    return False


def _hint(body: bytes) -> tuple[str, int | None]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python reads
        return "", None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return "", None
    kind = ""
    for key in KIND_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            kind = value.split("_")[0].lower()[:20]
            break
    object_id = None
    for key in ID_KEYS:
        try:
            object_id = int(data.get(key))
        except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, 1e400
            continue
        if 0 < object_id < 2**31:
            break
        object_id = None
    return kind, object_id


def webhook_receive(
    *, connection: HaloConnection | None, authorization: str, body: bytes, ip: str | None
) -> WebhookOutcome:
    if connection is None or not connection.enabled:
        return WebhookOutcome(404, "unknown_connection")
    if not webhook_authenticated(connection=connection, authorization=authorization):
        WebhookDelivery.objects.create(connection=connection, accepted=False, reason="bad_secret", ip=ip)
        return WebhookOutcome(401, "bad_secret")
    kind, object_id = _hint(body)
    with transaction.atomic():
        WebhookDelivery.objects.create(
            connection=connection,
            accepted=True,
            reason="queued",
            object_kind=kind,
            object_id=object_id,
            ip=ip,
        )
        transaction.on_commit(lambda: _queue(connection.pk, kind, object_id))
    return WebhookOutcome(202, "queued")


def _queue(connection_id: int, kind: str, object_id: int | None) -> None:
    from .tasks import halo_object_refresh, halo_sync

    try:
        if kind and object_id:
            halo_object_refresh.delay(connection_id, kind, object_id)
        else:  # no usable hint: an incremental sync picks the change up
            halo_sync.delay(connection_id, full=False, trigger="webhook")
    except Exception:  # broker down: the scheduled sync catches up; the delivery is logged
        import logging

        logging.getLogger(__name__).warning("could not queue HaloPSA webhook work", exc_info=True)
