"""Django's PostgreSQL backend with a short, bounded retry when a new connection is refused.

A PostgreSQL restart (a fail-over, a minor upgrade, ``pg_ctl restart``) refuses connections for a
second or two. With persistent connections and ``CONN_HEALTH_CHECKS`` every request after the
restart finds its old connection dead and opens a new one; retrying that connect for up to
``DATABASE_CONNECT_RETRY_SECONDS`` lets those requests wait the restart out instead of failing, so
a restart costs only the queries that were running when the server went away. A database that
stays down still fails within that bound (plus libpq's ``connect_timeout``) and the person sees the
"temporarily unavailable" page.

The health check itself (``is_usable``) asks the server only when it has something to say. Django's
sends ``SELECT 1`` at the start of every request that uses the database; on this virtual machine a
round trip after the connection sat idle costs 0.4 ms, two per SSO login. A server that ends a
connection (a restart, ``pg_terminate_backend``, an idle timeout) sends its FATAL message and closes
the socket, so the socket of a dropped connection is readable. A socket with nothing to read, on an
idle connection outside a transaction, is one the server has not given up on: no round trip is needed
to know it. Anything else (pending bytes, a transaction open or aborted, a broken state) gets Django's
``SELECT 1``.
"""

import logging
import select
import time

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg2 import extensions

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

    def is_usable(self):
        """Django's check, without its round trip when the socket shows the server has not hung up."""
        raw = self.connection
        if raw is None or raw.closed:
            return False
        if raw.info.transaction_status == extensions.TRANSACTION_STATUS_IDLE:
            try:
                poller = select.poll()  # not select.select: it refuses descriptors above 1023
                poller.register(raw.fileno(), select.POLLIN)
                readable = bool(poller.poll(0))
            except (OSError, ValueError, AttributeError):
                readable = True  # cannot tell: ask the server
            if not readable:
                return True
        return super().is_usable()  # bytes waiting (a FATAL, an EOF, a notice): ask for real
