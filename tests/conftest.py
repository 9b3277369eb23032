import pytest

from tests.factories import ContactFactory, CustomerFactory, PortalFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_document_memo():
    """Each test starts without another test's memoized provider documents (sso.discovery),
    as each starts with an emptied cache."""
    from sso.discovery import forget_memo

    forget_memo()
    yield
    forget_memo()


@pytest.fixture
def portal(db):
    return PortalFactory(name="Acme", url="http://acme.localhost:8000")


@pytest.fixture
def other_portal(db):
    return PortalFactory(name="Globex", url="http://globex.localhost:8000")


@pytest.fixture
def client(client):
    """Django's test client, talking to the ``acme.localhost`` portal by default."""
    client.defaults["HTTP_HOST"] = "acme.localhost"
    return client


@pytest.fixture
def customer(portal):
    return CustomerFactory(portal=portal, name="Acme Ltd")


@pytest.fixture
def contact(customer):
    return ContactFactory(customer=customer, email="alice@example.com", name="Alice")


@pytest.fixture
def user(portal, contact):
    """A person who has proven they own alice@example.com on the Acme portal."""
    return UserFactory(portal=portal, email="alice@example.com")


from tests.standin import standin  # noqa: E402,F401  (session-scoped HaloPSA stand-in server)
from tests.stripestub import localstripe  # noqa: E402,F401  (session-scoped localstripe server)
