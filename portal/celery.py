"""The Celery application. Tasks are thin: they load a row and call a service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = {
    # The outbox: re-queue mail whose first publish failed (e.g. the broker was down).
    "requeue-unsent-mail": {"task": "accounts.tasks.requeue_unsent_mail", "schedule": 60.0},
    # Payments: ask Stripe about intents whose webhook never came; re-queue unsent payment mail.
    "payments-reconcile": {"task": "payments.tasks.reconcile_pending", "schedule": 300.0},
    "payments-requeue-notices": {"task": "payments.tasks.requeue_notices", "schedule": 60.0},
}
