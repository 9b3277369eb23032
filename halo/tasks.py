"""Celery tasks: the per-portal schedule, one sync, and a webhook's re-read."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import HaloConnection, SyncRun


@shared_task(name="halo.tasks.halo_sync_due", ignore_result=True)
def halo_sync_due() -> int:
    """Every minute (beat): queue a sync for each enabled connection whose interval has passed.

    A full reconcile is due once its last one is older than ``HALO_FULL_SYNC_HOURS`` (nightly).
    """
    now, queued = timezone.now(), 0
    for connection in HaloConnection.objects.filter(enabled=True):
        last = SyncRun.objects.filter(connection=connection).exclude(status=SyncRun.Status.SKIPPED).first()
        if last and last.started_at > now - timedelta(minutes=max(1, connection.sync_interval_minutes)):
            continue
        full = connection.last_full_at is None or connection.last_full_at < now - timedelta(
            hours=settings.HALO_FULL_SYNC_HOURS
        )
        halo_sync.delay(connection.pk, full=full, trigger="beat")
        queued += 1
    return queued


@shared_task(name="halo.tasks.halo_sync", ignore_result=True, acks_late=True)
def halo_sync(connection_id: int, full: bool = False, trigger: str = "") -> None:
    from .sync import halo_sync_run

    connection = (
        HaloConnection.objects.filter(pk=connection_id, enabled=True).select_related("portal").first()
    )
    if connection is not None:
        halo_sync_run(connection=connection, full=full, trigger=trigger)


@shared_task(name="halo.tasks.halo_object_refresh", ignore_result=True, acks_late=True)
def halo_object_refresh(connection_id: int, kind: str, object_id: int) -> None:
    from .refresh import halo_object_refresh_run

    connection = (
        HaloConnection.objects.filter(pk=connection_id, enabled=True).select_related("portal").first()
    )
    if connection is not None:
        halo_object_refresh_run(connection=connection, kind=kind, object_id=object_id)
