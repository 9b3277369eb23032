"""Django's PostgreSQL backend with a short, bounded retry when a new connection is refused.

A PostgreSQL restart (a fail-over, a minor upgrade, ``pg_ctl restart``) refuses connections for a
second or two. With persistent connections and ``CONN_HEALTH_CHECKS`` every request after the
restart finds its old connection dead and opens a new one; retrying that connect for up to
``DATABASE_CONNECT_RETRY_SECONDS`` lets those requests wait the restart out instead of failing, so
a restart costs only the queries that were running when the server went away. A database that
stays down still fails within that bound (plus libpq's ``connect_timeout``) and the person sees the
"temporarily unavailable" page.
"""

import logging
import time

from django.conf import settings
from django.db.backends.postgresql import base

logger = logging.getLogger("portal.db")

RETRY_PAUSE_SECONDS = 0.2


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        deadline = time.monotonic() + settings.DATABASE_CONNECT_RETRY_SECONDS
        while True:
            try:
                return super().get_new_connection(conn_params)
            except base.Database.OperationalError as exc:
                if time.monotonic() + RETRY_PAUSE_SECONDS > deadline:
                    raise
                logger.warning(
                    "database connection refused; retrying", extra={"error": str(exc).strip()[:200]}
                )
                time.sleep(RETRY_PAUSE_SECONDS)
