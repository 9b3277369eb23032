"""The per-request connection check asks PostgreSQL only when the connection may be gone.

What is observed is the server's own record of the connection's last statement
(``pg_stat_activity.query``, read from a second connection), so a check that sends anything shows.
"""

import time

import psycopg2
import pytest
from django.db import connection

from portal.models import Portal
from tests.pgdrop import drop_this_connection, other_connection

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = "SELECT 'health-check-marker'"


def _last_statement(pid: int) -> str:
    other = other_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        return row[0] if row else ""
    finally:
        other.close()


def _this_connection_after_marker() -> int:
    if connection.vendor != "postgresql":
        pytest.skip("checks a real PostgreSQL connection")
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(MARKER)
    return connection.connection.info.backend_pid


def test_a_healthy_idle_connection_is_usable_without_a_round_trip():
    pid = _this_connection_after_marker()

    assert connection.is_usable()

    assert _last_statement(pid) == MARKER


def test_a_connection_the_server_ended_is_not_usable():
    _this_connection_after_marker()
    drop_this_connection()

    assert not connection.is_usable()

    connection.close()
    assert Portal.objects.count() == 0  # and the next query connects afresh


def test_a_connection_with_something_to_read_is_asked_for_real():
    """A notification waiting on the socket: the check cannot tell, so it pings (and still answers)."""
    pid = _this_connection_after_marker()
    with connection.connection.cursor() as cursor:
        cursor.execute("LISTEN portal_health_check")
    other = other_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("NOTIFY portal_health_check")
    finally:
        other.close()
    time.sleep(0.05)  # the notification crosses loopback

    assert connection.is_usable()

    assert _last_statement(pid) == "SELECT 1"


def test_a_connection_inside_an_aborted_transaction_is_not_usable():
    _this_connection_after_marker()
    raw = connection.connection
    raw.autocommit = False
    with raw.cursor() as cursor, pytest.raises(psycopg2.Error):
        cursor.execute("SELECT 1/0")

    assert not connection.is_usable()

    raw.rollback()
    raw.autocommit = True
