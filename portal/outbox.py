"""Publishing the Celery task of an outbox row: one way for every app's outbox (mail, payment mail,
HaloPSA write-backs).

The row is the truth (its task only carries the row's id); publishing is a nudge. So a publish error
is logged and swallowed, the row stays for beat's re-queue, and the page that asked never breaks.
A publish from a web request (``fast``) has a connection of its own with short socket timeouts and
no retries: a hung or unreachable broker costs about ``OUTBOX_PUBLISH_TIMEOUT`` x 2 (connect, then
one command), never the seconds of the worker-side ``CELERY_BROKER_TRANSPORT_OPTIONS``. Beat's
re-queue passes ``fast=False``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger("portal.outbox")


def task_publish(*, task, row_id: int, fast: bool) -> None:
    """Publish ``task(row_id)``; with ``fast``, bounded as the module says (raises on failure)."""
    if not fast or task.app.conf.task_always_eager:
        task.apply_async(args=[row_id])
        return
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0}
    with task.app.connection_for_write(transport_options=options, connect_timeout=timeout) as conn:
        task.apply_async(args=[row_id], connection=conn, retry=False)


def outbox_publish(*, model, row_id: int, task, fast: bool = True, what: str = "outbox task") -> bool:
    """Publish the task for one row of ``model``; True when the broker took it.

    ``last_queued_at`` is written *before* publishing (and put back if publishing fails): once the
    task is out, a worker may hold the row's lock while it talks to SMTP or HaloPSA, and a web
    request must never wait for that. Any publishing error is caught on purpose (see the module).
    """
    rows = model.objects.filter(pk=row_id)
    previous = rows.values_list("last_queued_at", flat=True).first()
    rows.update(last_queued_at=timezone.now())
    try:
        task_publish(task=task, row_id=row_id, fast=fast)
    except Exception as exc:
        rows.update(last_queued_at=previous)
        logger.warning(
            f"{what} not queued; the outbox will retry",
            extra={"model": model.__name__, "row_id": row_id, "error": type(exc).__name__},
        )
        return False
    return True
