"""A PostgreSQL connection dropped while a request waited on a provider is replaced, not used."""

import time

import psycopg2
import pytest
from django.db import connection

from portal.models import Portal
from portal.outages import database_reconnect_if_dropped

pytestmark = pytest.mark.django_db(transaction=True)


def _drop_this_connection() -> None:
    """End this connection's server process from another connection (what a restart does to it)."""
    if connection.vendor != "postgresql":
        pytest.skip("drops a real PostgreSQL connection")
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    other = psycopg2.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"],
        dbname=s["NAME"], connect_timeout=5,
    )  # fmt: skip
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            # It returns once the signal is sent; a restart's connections are gone before the next
            # request looks, so wait (bounded) until this one's server process has exited too.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.01)
    finally:
        other.close()


def test_a_connection_dropped_during_a_wait_is_replaced_before_the_next_query():
    _drop_this_connection()

    database_reconnect_if_dropped()

    assert Portal.objects.count() == 0  # a fresh connection answers


def test_without_the_check_the_dropped_connection_fails_the_next_query():
    """What the check is for: the same drop, then straight to a query."""
    from django.db import OperationalError

    _drop_this_connection()

    with pytest.raises(OperationalError):
        Portal.objects.count()
    connection.close()
