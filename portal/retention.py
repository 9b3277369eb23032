"""Retention helpers and the pruning of expired sessions (a beat task runs them daily).

Why: each app prunes its own rows (``accounts.retention``, ``sso.retention``) with the same
batched delete, so no single statement holds locks on a large table for long.
"""

from importlib import import_module

from django.conf import settings

BATCH_SIZE = 5000
#: A bound on one run's work; what is left is pruned by the next run.
MAX_BATCHES = 200


def delete_in_batches(queryset) -> int:
    """Delete the queryset's rows ``BATCH_SIZE`` at a time; returns how many were deleted."""
    model = queryset.model
    deleted = 0
    for _ in range(MAX_BATCHES):
        pks = list(queryset.order_by().values_list("pk", flat=True)[:BATCH_SIZE])
        if not pks:
            break
        _, per_model = model._base_manager.filter(pk__in=pks).delete()
        deleted += per_model.get(model._meta.label, 0)
    return deleted


def sessions_prune() -> None:
    """Remove expired sessions through the configured engine (a no-op for cookie sessions)."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
