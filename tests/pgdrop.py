"""Dropping this test's own PostgreSQL connection from a second one, as a server restart does."""

import time

import psycopg2
import pytest
from django.db import connection


def other_connection():
    """A second, autocommit connection to the test database (not through Django)."""
    s = connection.settings_dict
    other = psycopg2.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"],
        dbname=s["NAME"], connect_timeout=5,
    )  # fmt: skip
    other.autocommit = True
    return other


def drop_this_connection() -> None:
    """End this connection's server process from another connection (what a restart does to it)."""
    if connection.vendor != "postgresql":
        pytest.skip("drops a real PostgreSQL connection")
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    other = other_connection()
    try:
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
