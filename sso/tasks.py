"""Celery tasks of the sso app."""

import logging

from celery import shared_task

from .retention import sso_events_prune

logger = logging.getLogger("sso.retention")


@shared_task(name="sso.tasks.prune_old_events", ignore_result=True)
def prune_old_events() -> int:
    """Beat, daily: SSO events older than EVENT_RETENTION_DAYS."""
    deleted = sso_events_prune()
    logger.info("sso_events_pruned", extra={"sso_events": deleted})
    return deleted
