"""Celery tasks of the portal app."""

from celery import shared_task

from .retention import sessions_prune


@shared_task(name="portal.tasks.prune_expired_sessions", ignore_result=True)
def prune_expired_sessions() -> None:
    """Beat, daily: expired sessions (the database engine keeps them until removed)."""
    sessions_prune()
