import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from portal import services
from portal.models import Contact, Customer, Invoice, Portal
from portal.money import format_money
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


# --- portal_create ---------------------------------------------------------------------------


def test_portal_create_derives_host_and_strips_trailing_slash():
    portal = services.portal_create(url="http://Billing.Example.com:8000/", name=" Billing ", sso_only=True)
    assert portal.url == "http://Billing.Example.com:8000"
    assert portal.host == "billing.example.com"
    assert portal.name == "Billing"
    assert portal.sso_only is True


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://files.example.com",
        "https://example.com/billing",
        "https://example.com/?x=1",
        "https://example.com/#top",
        "https://user:pw@example.com",
        "",
    ],
)
def test_portal_create_rejects_bad_urls(url):
    with pytest.raises(ValidationError) as exc:
        services.portal_create(url=url, name="X")
    assert "url" in exc.value.message_dict
    assert Portal.objects.count() == 0


def test_portal_create_refuses_a_host_already_used_whatever_the_port(portal):
    with pytest.raises(ValidationError, match=r"already answers on the host name acme\.localhost"):
        services.portal_create(url="https://ACME.localhost:9443", name="Again")


def test_portal_create_requires_a_name():
    with pytest.raises(ValidationError) as exc:
        services.portal_create(url="https://x.example.com", name="  ")
    assert "name" in exc.value.message_dict


# --- contact_add -----------------------------------------------------------------------------


def test_contact_add_creates_the_customer_and_lowercases_email(portal):
    contact = services.contact_add(
        portal=portal, customer_name="Acme Ltd", email=" Alice@Example.COM ", name="Alice"
    )
    assert contact.email == "alice@example.com"
    assert contact.customer.portal == portal
    assert contact.customer.name == "Acme Ltd"


def test_contact_add_reuses_the_customer_case_insensitively(portal):
    customer = CustomerFactory(portal=portal, name="Acme Ltd")
    contact = services.contact_add(portal=portal, customer_name="acme ltd", email="a@example.com")
    assert contact.customer == customer
    assert Customer.objects.filter(portal=portal).count() == 1


def test_contact_add_keeps_customers_per_portal(portal, other_portal):
    services.contact_add(portal=portal, customer_name="Acme Ltd", email="a@example.com")
    services.contact_add(portal=other_portal, customer_name="Acme Ltd", email="a@example.com")
    assert Customer.objects.filter(name="Acme Ltd").count() == 2


def test_contact_add_refuses_duplicates_and_bad_emails(portal):
    services.contact_add(portal=portal, customer_name="Acme Ltd", email="a@example.com")
    with pytest.raises(ValidationError, match="already a contact of Acme Ltd"):
        services.contact_add(portal=portal, customer_name="Acme Ltd", email="A@EXAMPLE.com")
    with pytest.raises(ValidationError, match="not a valid email"):
        services.contact_add(portal=portal, customer_name="Acme Ltd", email="not-an-email")
    with pytest.raises(ValidationError):
        services.contact_add(portal=portal, customer_name="   ", email="b@example.com")
    assert Contact.objects.count() == 1


# --- invoice_add -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "balance"),
    [
        ("open", Decimal("120.00")),
        ("overdue", Decimal("120.00")),
        ("paid", Decimal("0")),
        ("void", Decimal("0")),
    ],
)
def test_invoice_add_balance_follows_status(portal, status, balance):
    invoice = services.invoice_add(
        portal=portal, customer_name="Acme Ltd", number="INV-1", total="120.00", status=status
    )
    invoice.refresh_from_db()
    assert invoice.balance == balance
    assert isinstance(invoice.total, Decimal)
    assert invoice.total == Decimal("120.00")


def test_invoice_add_defaults_dates_and_currency(portal):
    invoice = services.invoice_add(
        portal=portal, customer_name="Acme Ltd", number="INV-1", total=Decimal("5"), currency="eur"
    )
    assert invoice.currency == "EUR"
    assert invoice.due_on - invoice.issued_on == datetime.timedelta(days=30)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"total": "abc"}, "total"),
        ({"total": "12,00"}, "total"),
        ({"total": "NaN"}, "total"),
        ({"total": "Infinity"}, "total"),
        ({"total": 12.5}, "total"),
        ({"total": "-1.00"}, "total"),
        ({"total": "1.001"}, "total"),
        ({"total": "12345678901.00"}, "total"),
        ({"total": "\u0661\u0662\u0660"}, "total"),  # Arabic-Indic digits: Decimal reads 120
        ({"total": "1e2"}, "total"),
        ({"currency": "US"}, "currency"),
        ({"currency": "U$D"}, "currency"),
        ({"status": "pending"}, "status"),
        ({"number": ""}, "number"),
        ({"issued": datetime.date(2026, 2, 1), "due": datetime.date(2026, 1, 1)}, "due_on"),
    ],
)
def test_invoice_add_validates(portal, kwargs, field):
    params = {"portal": portal, "customer_name": "Acme Ltd", "number": "INV-1", "total": "10.00", **kwargs}
    with pytest.raises(ValidationError) as exc:
        services.invoice_add(**params)
    assert field in exc.value.message_dict
    assert Invoice.objects.count() == 0


def test_invoice_add_refuses_a_duplicate_number_for_the_customer(portal):
    services.invoice_add(portal=portal, customer_name="Acme Ltd", number="INV-1", total="1")
    with pytest.raises(ValidationError):
        services.invoice_add(portal=portal, customer_name="Acme Ltd", number="INV-1", total="2")


# --- payment_add -----------------------------------------------------------------------------


def test_payment_add_lowers_balance_and_marks_paid(customer):
    invoice = InvoiceFactory(customer=customer, total=Decimal("100.00"))
    services.payment_add(invoice=invoice, amount="40.00", method="card")
    invoice.refresh_from_db()
    assert (invoice.balance, invoice.status) == (Decimal("60.00"), "open")
    services.payment_add(invoice=invoice, amount=Decimal("60.00"))
    invoice.refresh_from_db()
    assert (invoice.balance, invoice.status) == (Decimal("0.00"), "paid")
    assert invoice.payments.count() == 2


def test_payment_add_refuses_overpayment_and_void(customer):
    invoice = InvoiceFactory(customer=customer, total=Decimal("10.00"))
    with pytest.raises(ValidationError):
        services.payment_add(invoice=invoice, amount="10.01")
    void = InvoiceFactory(customer=customer, status=Invoice.Status.VOID, balance=Decimal("0"))
    with pytest.raises(ValidationError):
        services.payment_add(invoice=void, amount="1")


def test_portal_by_host_accepts_host_host_port_and_url(portal):
    for value in ["acme.localhost", "ACME.localhost:8000", "http://acme.localhost:8000/", " acme.localhost "]:
        assert services.portal_by_host(host=value) == portal
    with pytest.raises(ValidationError, match="No portal answers"):
        services.portal_by_host(host="nobody.localhost")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("0"), "EUR", "€0.00"),
        (Decimal("-3.10"), "GBP", "-£3.10"),
        (Decimal("7.255"), "CHF", "CHF 7.26"),
        ("12", "usd", "$12.00"),
        (None, "USD", ""),
        ("garbage", "USD", ""),
        (Decimal("NaN"), "USD", ""),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected
