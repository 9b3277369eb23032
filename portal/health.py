"""What ``/healthz`` checks: the database, the cache and the broker, each bounded to a fraction of a second.

Only the database is essential: without it nothing works, so the probe answers 503 and a load
balancer takes the replica out. A cache or broker outage degrades the portal (slower SSO, mail
delayed until the broker returns) but every page still answers, so the probe answers 200 with
``"status": "degraded"`` and the failing parts named; taking every replica out of rotation for a
shared Redis outage would turn a degradation into an outage. ``?strict=1`` answers 503 for any
failing part, for monitoring that wants to page someone.
"""

import uuid
from urllib.parse import urlsplit

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection

OK, UNAVAILABLE, INLINE = "ok", "unavailable", "inline"


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return UNAVAILABLE
    return OK


def _cache() -> str:
    probe = uuid.uuid4().hex
    try:
        cache.set("healthz:probe", probe, timeout=10)
        return OK if cache.get("healthz:probe") == probe else UNAVAILABLE
    except Exception:
        return UNAVAILABLE


def _broker() -> str:
    app = current_app
    url = app.conf.broker_write_url or app.conf.broker_url or ""
    if app.conf.task_always_eager or url.startswith("memory://"):
        return INLINE
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT * 4
    try:
        if urlsplit(url).scheme in ("redis", "rediss"):
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
        else:
            with app.connection_for_write(connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=1)
    except Exception:
        return UNAVAILABLE
    return OK


def health_report() -> tuple[dict, bool]:
    """The probe's JSON body, and whether the essential part (the database) works."""
    parts = {"database": _database(), "cache": _cache(), "broker": _broker()}
    failing = [name for name, state in parts.items() if state == UNAVAILABLE]
    if parts["database"] == UNAVAILABLE:
        status = "error"
    elif failing:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, **parts, "failing": failing}, parts["database"] != UNAVAILABLE
