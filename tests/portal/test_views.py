import datetime
import re
from decimal import Decimal

import pytest

from portal.models import Invoice
from tests.factories import InvoiceFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["/", "/invoices/", "/invoices/1/", "/profile/"]


def rows(response) -> list[str]:
    """The invoice numbers listed in the page's table, in order."""
    return re.findall(r'<th scope="row"><a href="/invoices/\d+/">([^<]+)</a>', response.content.decode())


@pytest.mark.parametrize("path", PAGES)
def test_pages_require_sign_in(client, portal, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_a_session_of_another_portal_is_anonymous_here(client, other_portal, portal):
    client.force_login(UserFactory(portal=other_portal, email="alice@example.com"))
    response = client.get("/")
    assert response.status_code == 302


# --- dashboard -------------------------------------------------------------------------------


def test_dashboard_shows_balance_overdue_and_recent_invoices(signed_in, customer, globex_customer, portal):
    InvoiceFactory(customer=customer, number="INV-OPEN", total=Decimal("1234.50"))
    InvoiceFactory(
        customer=customer, number="INV-LATE", total=Decimal("10.00"), status=Invoice.Status.OVERDUE
    )
    InvoiceFactory(customer=globex_customer, number="GX-SECRET", total=Decimal("9999.00"))

    response = signed_in.get("/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "$1,244.50" in body  # balance due
    assert response.context["summary"].overdue_count == 1
    assert set(rows(response)) == {"INV-OPEN", "INV-LATE"}
    assert "GX-SECRET" not in body
    assert "Globex" not in body
    assert portal.name in body  # branded


def test_dashboard_without_matching_contact_is_a_friendly_panel(client, stranger, invoice, portal):
    client.force_login(stranger)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "No account for nobody@example.com at Acme" in body
    assert invoice.number not in body


def test_dashboard_with_nothing_due(signed_in, customer):
    response = signed_in.get("/")
    assert response.status_code == 200
    assert "Nothing due" in response.content.decode()


# --- invoice list ----------------------------------------------------------------------------


@pytest.fixture
def thirty_invoices(customer):
    start = datetime.date(2026, 1, 1)
    statuses = [Invoice.Status.OPEN, Invoice.Status.PAID, Invoice.Status.OVERDUE]
    for n in range(30):
        status = statuses[n % 3]
        InvoiceFactory(
            customer=customer,
            number=f"N-{n:02d}",
            issued_on=start + datetime.timedelta(days=n),
            due_on=start + datetime.timedelta(days=n + 30),
            total=Decimal(100 + n),
            balance=Decimal(0) if status == Invoice.Status.PAID else Decimal(100 + n),
            status=status,
        )


def test_invoice_list_is_paginated_25_per_page(signed_in, thirty_invoices):
    first = signed_in.get("/invoices/")
    assert first.status_code == 200
    assert len(rows(first)) == 25
    assert rows(first)[0] == "N-29"  # newest first by default
    assert "Showing 1\N{EN DASH}25 of 30 invoices" in first.content.decode()
    second = signed_in.get("/invoices/?page=2")
    assert rows(second) == [f"N-{n:02d}" for n in range(4, -1, -1)]


@pytest.mark.parametrize(
    ("page", "expected_page"),
    [("abc", 1), ("0", 2), ("-1", 2), ("999", 2), ("9" * 5000, 1), ("1.5", 1), ("", 1)],
)
def test_invalid_page_values_fall_back(signed_in, thirty_invoices, page, expected_page):
    response = signed_in.get("/invoices/", {"page": page})
    assert response.status_code == 200
    assert response.context["page"].number == expected_page


def test_filter_by_status(signed_in, thirty_invoices):
    response = signed_in.get("/invoices/?status=paid")
    assert response.status_code == 200
    assert len(rows(response)) == 10
    assert all(int(n[2:]) % 3 == 1 for n in rows(response))
    assert "Showing 1\N{EN DASH}10 of 10 paid invoices" in response.content.decode()


@pytest.mark.parametrize("status", ["bogus", "PAID", "<script>", "paid'--", "x" * 5000])
def test_invalid_status_shows_all(signed_in, thirty_invoices, status):
    response = signed_in.get("/invoices/", {"status": status})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 30
    assert b"Select a valid choice" not in response.content  # no form error shown to the person


def test_sort_and_invalid_sort(signed_in, thirty_invoices):
    response = signed_in.get("/invoices/?sort=total")
    assert rows(response)[0] == "N-00"
    response = signed_in.get("/invoices/?sort=-due")
    assert rows(response)[0] == "N-29"
    response = signed_in.get("/invoices/?sort=customer__portal__name")
    assert response.status_code == 200
    assert rows(response)[0] == "N-29"


def test_pagination_links_keep_the_filter_and_sort(signed_in, customer):
    for n in range(30):
        InvoiceFactory(customer=customer, number=f"O-{n:02d}", status=Invoice.Status.OPEN)
    response = signed_in.get("/invoices/?status=open&sort=number")
    body = response.content.decode()
    assert 'href="?status=open&amp;sort=number&amp;page=2"' in body
    assert rows(response)[0] == "O-00"


def test_sort_links_flip_direction_and_mark_aria_sort(signed_in, thirty_invoices):
    response = signed_in.get("/invoices/?sort=total&status=open")
    links = response.context["sort_links"]
    assert links["total"] == {"url": "?status=open&sort=-total", "aria_sort": "ascending"}
    assert links["issued"]["url"] == "?status=open"  # the default order needs no parameter
    assert 'aria-sort="ascending"' in response.content.decode()


def test_invoice_list_never_shows_other_customers_or_portals(
    signed_in, customer, globex_customer, foreign_customer
):
    InvoiceFactory(customer=customer, number="MINE")
    InvoiceFactory(customer=globex_customer, number="GLOBEX")
    InvoiceFactory(customer=foreign_customer, number="OTHER-PORTAL")
    response = signed_in.get("/invoices/")
    assert rows(response) == ["MINE"]


def test_invoice_list_without_matching_contact(client, stranger, invoice):
    client.force_login(stranger)
    response = client.get("/invoices/")
    assert response.status_code == 200
    assert "No account for nobody@example.com" in response.content.decode()
    assert invoice.number not in response.content.decode()


# --- invoice detail --------------------------------------------------------------------------


def test_invoice_detail_shows_lines_and_payments(signed_in, customer):
    invoice = InvoiceFactory(
        customer=customer,
        number="INV-77",
        currency="EUR",
        total=Decimal("1500.00"),
        balance=Decimal("1000.00"),
        issued_on=datetime.date(2026, 3, 1),
        due_on=datetime.date(2026, 3, 31),
    )
    PaymentFactory(invoice=invoice, amount=Decimal("500.00"), method="bank transfer")
    response = signed_in.get(f"/invoices/{invoice.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    for text in [
        "INV-77",
        "€1,500.00",
        "€1,000.00",
        "€500.00",
        "bank transfer",
        "1 March 2026",
        "31 March 2026",
        "Open",
    ]:
        assert text in body


def test_invoice_of_another_portal_is_404(signed_in, foreign_customer):
    other = InvoiceFactory(customer=foreign_customer)
    response = signed_in.get(f"/invoices/{other.pk}/")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_invoice_of_another_customer_on_this_portal_is_404(signed_in, globex_customer):
    other = InvoiceFactory(customer=globex_customer)
    assert signed_in.get(f"/invoices/{other.pk}/").status_code == 404


def test_person_without_contact_gets_404_for_any_invoice(client, stranger, invoice):
    client.force_login(stranger)
    assert client.get(f"/invoices/{invoice.pk}/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/invoices/abc/",
        "/invoices/99999999999999999999/",
        "/invoices/9223372036854775808/",
        "/invoices/0/",
        "/invoices/-1/",
        "/invoices/1.5/",
    ],
)
def test_malformed_invoice_ids_are_a_404_page(signed_in, invoice, path):
    response = signed_in.get(path)
    assert response.status_code == 404
    assert b"Page not found" in response.content


# --- profile ---------------------------------------------------------------------------------


def test_profile_lists_customers_and_emails(signed_in, customer, globex_customer):
    response = signed_in.get("/profile/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "alice@example.com" in body
    assert "Acme Ltd" in body
    assert "Globex" not in body


def test_profile_without_contacts(client, stranger):
    client.force_login(stranger)
    response = client.get("/profile/")
    assert response.status_code == 200
    assert "no account for nobody@example.com" in response.content.decode().lower()


def test_pages_are_accessible_basics(signed_in, thirty_invoices):
    """Every form field has a label; tables have captions; the main landmark exists."""
    body = signed_in.get("/invoices/").content.decode()
    for field_id in re.findall(r'<select[^>]*id="([^"]+)"', body):
        assert f'for="{field_id}"' in body
    assert "<caption" in body
    assert 'id="main"' in body


def test_a_database_outage_is_a_503_try_again_page_not_a_500(rf, portal):
    from django.db import OperationalError

    from portal.views import server_error

    request = rf.get("/", HTTP_HOST="acme.localhost")
    request.portal = portal
    try:
        raise OperationalError("terminating connection due to administrator command")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and b"try again in a minute" in response.content
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500
