"""Reads of the halo app."""

from __future__ import annotations

from portal.models import Portal

from .models import HaloConnection, SyncRun, WebhookDelivery


def halo_connection_for_portal(*, portal: Portal | None, enabled_only: bool = True) -> HaloConnection | None:
    if portal is None or portal.pk is None:
        return None
    qs = HaloConnection.objects.filter(portal_id=portal.pk).select_related("portal")
    if enabled_only:
        qs = qs.filter(enabled=True)
    return qs.first()


def halo_connection_by_key(*, key: str) -> HaloConnection | None:
    if not key or len(key) > 40:
        return None
    return HaloConnection.objects.filter(key=key).select_related("portal").first()


def sync_runs_recent(*, connection: HaloConnection, limit: int = 10) -> list[SyncRun]:
    return list(SyncRun.objects.filter(connection=connection).exclude(status=SyncRun.Status.SKIPPED)[:limit])


def sync_last_run(*, connection: HaloConnection) -> SyncRun | None:
    return SyncRun.objects.filter(connection=connection).exclude(status=SyncRun.Status.SKIPPED).first()


def sync_last_success(*, connection: HaloConnection) -> SyncRun | None:
    return SyncRun.objects.filter(connection=connection, status=SyncRun.Status.OK).first()


def webhook_deliveries_recent(*, connection: HaloConnection, limit: int = 10) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(connection=connection)[:limit])


def halo_record_url(*, connection: HaloConnection, kind: str, halo_id: int) -> str:
    """Where the record opens in HaloPSA's agent app."""
    path = {"invoice": f"/invoices?id={halo_id}", "customer": f"/customers?clientid={halo_id}",
            "contact": f"/customers?userid={halo_id}"}[kind]  # fmt: skip
    return f"{connection.web_url}{path}"
