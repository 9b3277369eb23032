"""Pruning of the SSO event log (a beat task runs it daily).

Why: anyone can make sign-in attempts, and every one is a row; the log is kept
``EVENT_RETENTION_DAYS`` (180 by default), long enough to diagnose a config and to investigate.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.retention import delete_in_batches

from .models import SSOEvent


def sso_events_prune(*, now=None) -> int:
    now = now or timezone.now()
    return delete_in_batches(
        SSOEvent.objects.filter(created_at__lt=now - timedelta(days=settings.EVENT_RETENTION_DAYS))
    )
