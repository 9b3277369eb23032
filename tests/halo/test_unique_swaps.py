"""HaloPSA rows trading unique values among themselves: swaps, chains and cycles of emails and names.

Against the stand-in's real HTTP API on loopback. Each row of such a trade clashes with another row's old
value, so written naively every row of it is refused, and refused again on every later run: the portal
kept stale emails and names for good. A row that truly clashes is still skipped and counted.
"""

import pytest

from halo.models import SyncRun
from halo.sync import halo_sync_run
from halo.unique_moves import page_write
from halo.upserts import CUSTOMER_NAME, Counts
from portal.models import Contact, Customer, Invoice
from tests.factories import ContactFactory, CustomerFactory
from tests.halo.conftest import invoices

pytestmark = pytest.mark.django_db


def user(i: int, email: str, client_id: int = 1) -> dict:
    return {"id": 100 + i, "name": f"User {i}", "emailaddress": email, "client_id": client_id,
            "canaccessinvoices": True}  # fmt: skip


def synced(connection, halo, *, clients, users=(), invoices=()):
    """The stand-in seeded and one full sync stored it."""
    halo.seed_api(clients=clients, users=users, invoices=invoices)
    run = halo_sync_run(connection=connection, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    return run


def sync(connection) -> SyncRun:
    run = halo_sync_run(connection=connection, full=True)
    assert run.status == SyncRun.Status.OK, run.error
    return run


def emails(portal) -> dict[int, tuple[str, bool]]:
    return {
        c.halo_id: (c.email, c.inactive)
        for c in Contact.objects.filter(customer__portal=portal, halo_id__isnull=False)
    }


def names(portal) -> dict[int, str]:
    return dict(Customer.objects.filter(portal=portal, halo_id__isnull=False).values_list("halo_id", "name"))


def test_two_users_swapping_emails_in_one_page_are_stored_swapped(connection, halo, portal):
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
           users=[user(1, "a@example.com"), user(2, "b@example.com")])  # fmt: skip
    halo.change("user", 101, notify=False, emailaddress="b@example.com")
    halo.change("user", 102, notify=False, emailaddress="a@example.com")
    run = sync(connection)
    assert emails(portal) == {101: ("b@example.com", False), 102: ("a@example.com", False)}
    assert run.counts["contacts"] == {"created": 0, "updated": 2, "unchanged": 0, "skipped": 0}
    # Stable: the next run finds nothing to change.
    assert sync(connection).counts["contacts"]["unchanged"] == 2


def test_two_clients_swapping_names_in_one_page_are_stored_swapped(connection, halo, portal, other_portal):
    elsewhere = [CustomerFactory(portal=other_portal, name=n) for n in ("Alpha", "Beta")]
    synced(connection, halo, clients=[{"id": 1, "name": "Alpha"}, {"id": 2, "name": "Beta"}],
           invoices=invoices(1, client_id=1))  # fmt: skip
    halo.change("client", 1, notify=False, name="Beta")
    halo.change("client", 2, notify=False, name="Alpha")
    run = sync(connection)
    assert names(portal) == {1: "Beta", 2: "Alpha"}
    assert run.counts["customers"] == {"created": 0, "updated": 2, "unchanged": 0, "skipped": 0}
    assert Invoice.objects.get(customer__portal=portal, halo_id=1001).customer.halo_id == 1  # same row
    assert [Customer.objects.get(pk=c.pk).name for c in elsewhere] == ["Alpha", "Beta"]  # another tenant


def test_three_users_trading_emails_round_in_one_page(connection, halo, portal, settings):
    settings.HALO_PAGE_SIZE = 3
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
           users=[user(1, "a@example.com"), user(2, "b@example.com"), user(3, "c@example.com")])  # fmt: skip
    for halo_id, email in ((101, "b@example.com"), (102, "c@example.com"), (103, "a@example.com")):
        halo.change("user", halo_id, notify=False, emailaddress=email)
    run = sync(connection)
    assert emails(portal) == {
        101: ("b@example.com", False),
        102: ("c@example.com", False),
        103: ("a@example.com", False),
    }
    assert run.counts["contacts"]["skipped"] == 0


def test_three_clients_trading_names_round_in_one_page(connection, halo, portal, settings):
    settings.HALO_PAGE_SIZE = 3
    synced(connection, halo, clients=[{"id": i, "name": n} for i, n in ((1, "A"), (2, "B"), (3, "C"))])
    for halo_id, name in ((1, "B"), (2, "C"), (3, "A")):
        halo.change("client", halo_id, notify=False, name=name)
    run = sync(connection)
    assert names(portal) == {1: "B", 2: "C", 3: "A"}
    assert run.counts["customers"]["skipped"] == 0


def test_a_swap_across_two_pages_is_stored_by_the_end_of_the_run(connection, halo, portal, settings):
    """One user per page: each page sees the other user's old email still stored. The rows are read
    again at the end of the run, together, and trade then."""
    settings.HALO_PAGE_SIZE = 1
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
           users=[user(1, "a@example.com"), user(2, "b@example.com")])  # fmt: skip
    halo.change("user", 101, notify=False, emailaddress="b@example.com")
    halo.change("user", 102, notify=False, emailaddress="a@example.com")
    run = sync(connection)
    assert emails(portal) == {101: ("b@example.com", False), 102: ("a@example.com", False)}
    assert run.counts["contacts"]["skipped"] == 0


def test_a_cycle_of_names_across_pages_is_stored_by_the_end_of_the_run(connection, halo, portal, settings):
    settings.HALO_PAGE_SIZE = 1
    synced(connection, halo, clients=[{"id": i, "name": n} for i, n in ((1, "A"), (2, "B"), (3, "C"))])
    for halo_id, name in ((1, "B"), (2, "C"), (3, "A")):
        halo.change("client", halo_id, notify=False, name=name)
    sync(connection)
    assert names(portal) == {1: "B", 2: "C", 3: "A"}


def test_two_invoices_swapping_numbers_are_stored_swapped(connection, halo, portal):
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}], invoices=invoices(2))
    halo.change("invoice", 1001, notify=False, invoicenumber="INV-2")
    halo.change("invoice", 1002, notify=False, invoicenumber="INV-1")
    run = sync(connection)
    numbers = dict(Invoice.objects.filter(customer__portal=portal).values_list("halo_id", "number"))
    assert numbers == {1001: "INV-2", 1002: "INV-1"}
    assert run.counts["invoices"]["skipped"] == 0


# --- rows that truly clash are still skipped --------------------------------------------------
def test_two_new_users_with_one_email_in_a_page_the_second_is_skipped(connection, halo, portal):
    run = synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
                 users=[user(1, "a@example.com"), user(2, "a@example.com")])  # fmt: skip
    assert emails(portal) == {101: ("a@example.com", False)}
    assert run.counts["contacts"] == {"created": 1, "updated": 0, "unchanged": 0, "skipped": 1}


def test_a_user_taking_an_email_of_the_page_is_skipped_while_a_swap_beside_it_is_stored(
    connection, halo, portal, settings
):
    settings.HALO_PAGE_SIZE = 3
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
           users=[user(1, "a@example.com"), user(2, "b@example.com"), user(3, "c@example.com")])  # fmt: skip
    for halo_id, email in ((101, "b@example.com"), (102, "a@example.com"), (103, "a@example.com")):
        halo.change("user", halo_id, notify=False, emailaddress=email)
    run = sync(connection)
    # 103 asks for the email 102 takes in the same page: the first one counts, 103 loses access at c@.
    assert emails(portal) == {
        101: ("b@example.com", False),
        102: ("a@example.com", False),
        103: ("c@example.com", True),
    }
    assert run.counts["contacts"]["skipped"] == 1


def test_a_row_the_database_refuses_is_skipped_while_a_swap_beside_it_is_stored(
    connection, halo, portal, settings
):
    """102 asks for a@, which 101 keeps: 101 is refused z@, held by a contact typed into the admin. The
    database refuses 102 (the page is written row by row), which keeps c@ but not its access (HaloPSA
    no longer gives it c@; the full run marks it gone); the swap of 104 and 105 still goes through."""
    settings.HALO_PAGE_SIZE = 4
    synced(connection, halo, clients=[{"id": 1, "name": "Client 1"}],
           users=[user(1, "a@example.com"), user(2, "c@example.com"), user(4, "d@example.com"),
                  user(5, "e@example.com")])  # fmt: skip
    ContactFactory(customer=Customer.objects.get(portal=portal, halo_id=1), email="z@example.com")
    for halo_id, email in ((101, "z@example.com"), (102, "a@example.com"),
                           (104, "e@example.com"), (105, "d@example.com")):  # fmt: skip
        halo.change("user", halo_id, notify=False, emailaddress=email)
    run = sync(connection)
    assert emails(portal) == {
        101: ("a@example.com", True),
        102: ("c@example.com", True),
        104: ("e@example.com", False),
        105: ("d@example.com", False),
    }
    assert run.counts["contacts"]["skipped"] == 2
    assert Contact.objects.get(customer__portal=portal, halo_id__isnull=True).email == "z@example.com"


def test_a_page_the_database_refuses_still_trades_what_it_can_row_by_row(portal, other_portal):
    """The page's writer itself, given rows the database refuses (a HaloPSA id beyond 32 bits): a swap with a refused row stays as it was, whole; a swap beside it goes through; a chain
    whose first row is refused still moves from its free end. No placeholder is left behind, and the
    other portal's customers of the same names are never touched."""
    made = {n: CustomerFactory(portal=portal, name=n, halo_id=i) for i, n in enumerate("ABCDEFG", 1)}
    elsewhere = [CustomerFactory(portal=other_portal, name=n) for n in "ABCDEFGH"]
    bad = 2**31

    def renamed(name, new, halo_id=None):
        customer = made[name]
        customer.name, customer.halo_id = new, halo_id or customer.halo_id
        return customer

    updates = [
        renamed("A", "B"), renamed("B", "A", bad),  # a swap with a refused row
        renamed("C", "D"), renamed("D", "C"),  # a swap
        renamed("E", "F", bad), renamed("F", "G"), renamed("G", "H"),  # a chain, its first row refused
    ]  # fmt: skip
    counts = Counts()
    page_write(Customer, [], updates, ["name", "halo_id"], counts, CUSTOMER_NAME, portal)
    assert counts.skipped == 3
    assert names(portal) == {1: "A", 2: "B", 3: "D", 4: "C", 5: "E", 6: "G", 7: "H"}
    assert [Customer.objects.get(pk=c.pk).name for c in elsewhere] == list("ABCDEFGH")
