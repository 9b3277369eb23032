"""What a concurrent request sees of a request that is waiting on an outside service.

A second database connection (the calling thread's; the request under test runs in another thread,
so on another connection) tries to lock a row with a short ``lock_timeout``, the way a second tab,
a double click or a webhook would, and reads ``pg_stat_activity`` for transactions left open. Real
PostgreSQL, nothing mocked: a row lock held across an HTTP call shows up here as a lock timeout.
"""

from __future__ import annotations

import threading

from django.db import OperationalError, connection, transaction

LOCK_NOT_AVAILABLE = "55P03"
JOIN_SECONDS = 20.0  # the longest a request thread is waited for


def row_lockable(model, pk, *, timeout_ms: int = 300) -> bool:
    """Whether this connection can lock ``model`` row ``pk`` within ``timeout_ms`` (then lets it go)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = %s", [f"{int(timeout_ms)}ms"])
            list(model.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True))
    except OperationalError as exc:
        if getattr(exc.__cause__, "pgcode", None) == LOCK_NOT_AVAILABLE:  # psycopg2
            return False
        raise
    return True


def transactions_open_elsewhere() -> int:
    """Other connections to this database sitting in an open transaction between statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%'"
        )
        return cursor.fetchone()[0]


class InThread:
    """``call()`` in its own thread (so on its own database connection); ``result()`` waits, bounded."""

    def __init__(self, call):
        self._call = call
        self._value = self._error = None
        self.thread = threading.Thread(target=self._run, name="request-under-test", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from django.db import connections

        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the test by result()
            self._error = exc
        finally:
            connections.close_all()

    def running(self) -> bool:
        return self.thread.is_alive()

    def result(self):
        self.thread.join(timeout=JOIN_SECONDS)
        assert not self.thread.is_alive(), f"the request did not finish within {JOIN_SECONDS:.0f} s"
        if self._error is not None:
            raise self._error
        return self._value
