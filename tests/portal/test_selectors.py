import datetime
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from portal import selectors
from portal.models import Contact, Invoice
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_customers_are_those_with_a_contact_of_the_users_email(user, customer, globex_customer):
    assert list(selectors.customers_for_user(user=user)) == [customer]


def test_contact_email_matches_case_insensitively(user, customer):
    # Rows written around Contact.save (bulk updates, raw imports) may keep their case.
    Contact.objects.filter(customer=customer).update(email="Alice@Example.COM")
    assert list(selectors.customers_for_user(user=user)) == [customer]


def test_a_customer_with_several_contacts_appears_once(user, customer):
    ContactFactory(customer=customer, email="alice@example.co")
    ContactFactory(customer=customer, email="carol@example.com")
    assert selectors.customers_for_user(user=user).count() == 1
    assert selectors.dashboard_summary(user=user).customers == [customer]


def test_same_email_on_another_portal_grants_nothing_here(user, customer, foreign_customer):
    assert list(selectors.customers_for_user(user=user)) == [customer]
    InvoiceFactory(customer=foreign_customer, number="FOREIGN-1")
    assert not selectors.invoices_for_user(user=user).filter(number="FOREIGN-1").exists()


def test_request_portal_must_be_the_users_portal(user, customer, other_portal):
    assert selectors.customers_for_user(user=user, portal=other_portal).count() == 0
    assert selectors.invoices_for_user(user=user, portal=other_portal).count() == 0


def test_person_without_contact_sees_nothing(stranger, invoice):
    assert selectors.customers_for_user(user=stranger).count() == 0
    assert selectors.invoices_for_user(user=stranger).count() == 0
    with pytest.raises(Http404):
        selectors.invoice_for_user(user=stranger, pk=invoice.pk)
    summary = selectors.dashboard_summary(user=stranger)
    assert not summary.has_access
    assert summary.balance_due == {}
    assert summary.recent_invoices == []


def test_superusers_and_inactive_users_see_no_customer_data(portal, contact, invoice):
    superuser = UserFactory(portal=None, email="alice@example.com", is_superuser=True, is_staff=True)
    assert selectors.invoices_for_user(user=superuser).count() == 0
    superuser.delete()  # a superuser's email cannot also be a portal user's
    inactive = UserFactory(portal=portal, email="alice@example.com", is_active=False)
    assert selectors.invoices_for_user(user=inactive).count() == 0


def test_invoices_filter_by_status(user, customer):
    InvoiceFactory(customer=customer, status=Invoice.Status.PAID, balance=Decimal("0"))
    open_one = InvoiceFactory(customer=customer, status=Invoice.Status.OPEN)
    assert list(selectors.invoices_for_user(user=user, status="open")) == [open_one]
    assert selectors.invoices_for_user(user=user).count() == 2


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("-issued", ["B", "C", "A"]),
        ("issued", ["A", "C", "B"]),
        ("due", ["C", "A", "B"]),
        ("-due", ["B", "A", "C"]),
        ("total", ["B", "A", "C"]),
        ("-total", ["C", "A", "B"]),
        ("number", ["A", "B", "C"]),
        ("-number", ["C", "B", "A"]),
    ],
)
def test_invoices_sort_by_whitelisted_orders(user, customer, order, expected):
    day = datetime.date(2026, 1, 1)
    InvoiceFactory(
        customer=customer, number="A", issued_on=day, due_on=day.replace(month=3), total=Decimal("50")
    )
    InvoiceFactory(
        customer=customer,
        number="B",
        issued_on=day.replace(month=5),
        due_on=day.replace(month=6),
        total=Decimal("5"),
    )
    InvoiceFactory(
        customer=customer,
        number="C",
        issued_on=day.replace(month=2),
        due_on=day.replace(month=2),
        total=Decimal("500"),
    )
    numbers = [i.number for i in selectors.invoices_for_user(user=user, order=order)]
    assert numbers == expected


def test_unknown_status_or_order_is_a_programming_error(user):
    with pytest.raises(ValueError):
        selectors.invoices_for_user(user=user, status="pending")
    with pytest.raises(ValueError):
        selectors.invoices_for_user(user=user, order="customer__portal")


def test_invoice_for_user_returns_own_invoice_with_payments(user, invoice):
    PaymentFactory(invoice=invoice, amount=Decimal("20.00"))
    found = selectors.invoice_for_user(user=user, pk=str(invoice.pk))
    assert found == invoice
    assert [p.amount for p in found.payments.all()] == [Decimal("20.00")]


@pytest.mark.parametrize("pk", ["abc", "", None, "0", "-1", "1.5", "99999999999999999999", 2**63, "1e3"])
def test_invoice_for_user_malformed_ids_are_404(user, invoice, pk):
    with pytest.raises(Http404):
        selectors.invoice_for_user(user=user, pk=pk)


def test_invoice_of_another_customer_or_portal_is_404(user, globex_customer, foreign_customer):
    for customer in (globex_customer, foreign_customer):
        other = InvoiceFactory(customer=customer)
        with pytest.raises(Http404):
            selectors.invoice_for_user(user=user, pk=other.pk)


def test_dashboard_summary_sums_balances_per_currency_as_decimal(user, customer, globex_customer):
    today = timezone.localdate()
    InvoiceFactory(customer=customer, total=Decimal("100.10"), status=Invoice.Status.OPEN)
    InvoiceFactory(customer=customer, total=Decimal("0.20"), status=Invoice.Status.OVERDUE)
    InvoiceFactory(customer=customer, total=Decimal("40.00"), currency="EUR", status=Invoice.Status.OVERDUE)
    InvoiceFactory(customer=customer, total=Decimal("999"), balance=Decimal("0"), status=Invoice.Status.PAID)
    InvoiceFactory(customer=customer, total=Decimal("999"), balance=Decimal("0"), status=Invoice.Status.VOID)
    InvoiceFactory(customer=globex_customer, total=Decimal("5000"), status=Invoice.Status.OVERDUE)
    for n in range(4):
        InvoiceFactory(
            customer=customer,
            total=Decimal("1.00"),
            issued_on=today - datetime.timedelta(days=100 + n),
            due_on=today - datetime.timedelta(days=70 + n),
        )

    summary = selectors.dashboard_summary(user=user)

    assert summary.has_access
    assert summary.customers == [customer]
    assert summary.balance_due == {"EUR": Decimal("40.00"), "USD": Decimal("104.30")}
    assert all(isinstance(v, Decimal) for v in summary.balance_due.values())
    assert summary.overdue_count == 2
    assert summary.overdue_balance == {"EUR": Decimal("40.00"), "USD": Decimal("0.20")}
    assert summary.unpaid_count == 7
    assert len(summary.recent_invoices) == selectors.RECENT_INVOICES
    assert all(i.customer == customer for i in summary.recent_invoices)
    assert all(i.total != Decimal("1.00") for i in summary.recent_invoices)  # the oldest are left out


def test_contacts_for_user_lists_only_matching_contacts(user, contact, globex_customer):
    second = CustomerFactory(portal=user.portal, name="Initech")
    ContactFactory(customer=second, email="alice@example.com")
    ContactFactory(customer=second, email="someone.else@example.com")
    rows = [(c.customer.name, c.email) for c in selectors.contacts_for_user(user=user)]
    assert rows == [("Acme Ltd", "alice@example.com"), ("Initech", "alice@example.com")]


def test_customers_for_email_is_per_portal_and_case_insensitive(
    portal, other_portal, customer, contact, foreign_customer
):
    assert list(selectors.customers_for_email(portal=portal, email=" ALICE@example.com ")) == [customer]
    assert list(selectors.customers_for_email(portal=other_portal, email="alice@example.com")) == [
        foreign_customer
    ]
    assert not selectors.customers_for_email(portal=portal, email="").exists()
    assert not selectors.customers_for_email(portal=portal, email="bob@example.com").exists()
