import pytest

from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, UserFactory


@pytest.fixture
def globex_customer(portal):
    """Another customer on the same portal as Alice's, with its own contact."""
    customer = CustomerFactory(portal=portal, name="Globex Corp")
    ContactFactory(customer=customer, email="bob@example.com")
    return customer


@pytest.fixture
def foreign_customer(other_portal):
    """A customer of another portal whose contact has Alice's email: still not Alice's on Acme."""
    customer = CustomerFactory(portal=other_portal, name="Acme Ltd")
    ContactFactory(customer=customer, email="alice@example.com")
    return customer


@pytest.fixture
def stranger(portal):
    """A signed-up person of the Acme portal whose email is no contact."""
    return UserFactory(portal=portal, email="nobody@example.com")


@pytest.fixture
def invoice(customer):
    return InvoiceFactory(customer=customer, number="INV-1")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client
