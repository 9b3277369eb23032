"""The Celery application. Tasks are thin: they load a row and call a service.

Two additions make mail resume quickly after a broker outage (issue: pending mail out within ~15 s
of the broker coming back):

- the worker retries its broker connection every 0.5-3 s instead of kombu's default back-off that
  grows to 30 s, so a long outage does not leave the worker asleep after the broker returns;
- each time the worker's consumer (re)connects it asks for a re-queue of every unsent mail: a
  broker that restarted may have lost what was published before, and beat's regular re-queue only
  republishes rows that were not published in the last minute.
"""

import logging
import os
from functools import partial

from celery import Celery, bootsteps
from celery.worker.consumer import Consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger("portal.celery")

#: Reconnect back-off of the worker: first retry at once-ish, never more than this many seconds apart.
RECONNECT_INTERVAL_START = 0.5
RECONNECT_INTERVAL_STEP = 0.5
RECONNECT_INTERVAL_MAX = 3.0


class QuickReconnectConsumer(Consumer):
    """Celery's consumer with a short, bounded reconnect back-off (Celery has no setting for it)."""

    def ensure_connected(self, conn):
        conn.ensure_connection = partial(
            conn.ensure_connection,
            interval_start=RECONNECT_INTERVAL_START,
            interval_step=RECONNECT_INTERVAL_STEP,
            interval_max=RECONNECT_INTERVAL_MAX,
        )
        return super().ensure_connected(conn)


class RequeueMailOnConnect(bootsteps.StartStopStep):
    """Consumer steps start again after every reconnect: ask for a full re-queue of unsent mail."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, c):
        try:
            c.app.send_task("accounts.tasks.requeue_unsent_mail", kwargs={"everything": True})
        except Exception as exc:  # the broker went away again; beat's re-queue still runs
            logger.warning("re-queue on connect not published", extra={"error": type(exc).__name__})


app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.worker_consumer = "portal.celery:QuickReconnectConsumer"
app.steps["consumer"].add(RequeueMailOnConnect)
