"""A PostgreSQL connection dropped while a request waited on a provider is replaced, not used."""

import pytest
from django.db import connection

from portal.models import Portal
from portal.outages import database_reconnect_if_dropped
from tests.pgdrop import drop_this_connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_connection_dropped_during_a_wait_is_replaced_before_the_next_query():
    drop_this_connection()

    database_reconnect_if_dropped()

    assert Portal.objects.count() == 0  # a fresh connection answers


def test_without_the_check_the_dropped_connection_fails_the_next_query():
    """What the check is for: the same drop, then straight to a query."""
    from django.db import OperationalError

    drop_this_connection()

    with pytest.raises(OperationalError):
        Portal.objects.count()
    connection.close()
