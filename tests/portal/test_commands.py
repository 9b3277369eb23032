import datetime
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.models import Contact, Customer, Invoice, Payment, Portal

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- portal create ---------------------------------------------------------------------------


def test_create():
    output = run("portal", "create", "--url", "http://acme.localhost:8000", "--name", "Acme")
    portal = Portal.objects.get()
    assert (portal.host, portal.name, portal.sso_only) == ("acme.localhost", "Acme", False)
    assert "acme.localhost" in output


def test_create_sso_only():
    run("portal", "create", "--url", "https://sso.example.com", "--name", "SSO", "--sso-only")
    assert Portal.objects.get().sso_only is True


def test_create_duplicate_host_ignores_port():
    run("portal", "create", "--url", "http://acme.localhost:8000", "--name", "Acme")
    with pytest.raises(CommandError, match=r"already answers on the host name acme\.localhost"):
        run("portal", "create", "--url", "http://acme.localhost:9000", "--name", "Again")
    assert Portal.objects.count() == 1


@pytest.mark.parametrize("url", ["acme", "ftp://acme.localhost", "http://acme.localhost/path"])
def test_create_bad_url(url):
    with pytest.raises(CommandError, match="url"):
        run("portal", "create", "--url", url, "--name", "Acme")


def test_create_requires_its_options():
    with pytest.raises(CommandError):
        run("portal", "create", "--name", "Acme")


def test_unknown_action_is_an_error():
    with pytest.raises(CommandError):
        run("portal", "destroy")


# --- portal add-contact ----------------------------------------------------------------------


def test_add_contact_creates_customer(portal):
    output = run(
        "portal",
        "add-contact",
        "--host",
        "acme.localhost",
        "--customer",
        "Acme Ltd",
        "--email",
        "Alice@Example.com",
    )
    contact = Contact.objects.get()
    assert (contact.customer.name, contact.customer.portal, contact.email) == (
        "Acme Ltd",
        portal,
        "alice@example.com",
    )
    assert "alice@example.com" in output
    run(
        "portal",
        "add-contact",
        "--host",
        "acme.localhost:8000",
        "--customer",
        "Acme Ltd",
        "--email",
        "bob@example.com",
    )
    assert Customer.objects.count() == 1
    assert Contact.objects.count() == 2


def test_add_contact_errors(portal):
    with pytest.raises(CommandError, match=r"No portal answers on the host name 'nowhere\.localhost'"):
        run(
            "portal",
            "add-contact",
            "--host",
            "nowhere.localhost",
            "--customer",
            "X",
            "--email",
            "a@example.com",
        )
    with pytest.raises(CommandError, match="not a valid email"):
        run("portal", "add-contact", "--host", "acme.localhost", "--customer", "X", "--email", "nope")
    run("portal", "add-contact", "--host", "acme.localhost", "--customer", "X", "--email", "a@example.com")
    with pytest.raises(CommandError, match="already a contact"):
        run(
            "portal", "add-contact", "--host", "acme.localhost", "--customer", "X", "--email", "a@example.com"
        )


# --- portal add-invoice ----------------------------------------------------------------------


def add_invoice(*extra):
    return run(
        "portal",
        "add-invoice",
        "--host",
        "acme.localhost",
        "--customer",
        "Acme Ltd",
        "--number",
        "INV-1001",
        *extra,
    )


def test_add_invoice_with_all_options(portal):
    add_invoice(
        "--total",
        "120.00",
        "--currency",
        "eur",
        "--issued",
        "2026-11-01",
        "--due",
        "2026-12-01",
        "--status",
        "overdue",
    )
    invoice = Invoice.objects.get()
    assert invoice.customer.name == "Acme Ltd"
    assert invoice.customer.portal == portal
    assert (invoice.total, invoice.balance, invoice.currency) == (Decimal("120.00"), Decimal("120.00"), "EUR")
    assert (invoice.issued_on, invoice.due_on) == (datetime.date(2026, 11, 1), datetime.date(2026, 12, 1))
    assert invoice.status == "overdue"


@pytest.mark.parametrize("status", ["paid", "void"])
def test_add_invoice_paid_or_void_has_no_balance(portal, status):
    add_invoice("--total", "99.99", "--status", status)
    assert Invoice.objects.get().balance == Decimal("0")


def test_add_invoice_defaults(portal):
    add_invoice("--total", "5")
    invoice = Invoice.objects.get()
    assert (invoice.currency, invoice.status, invoice.balance) == ("USD", "open", Decimal("5"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--total", "abc"], "total"),
        (["--total", "1.234"], "total"),
        (["--total", "-5"], "total"),
        (["--total", "1", "--issued", "2026-13-01"], "not a date"),
        (["--total", "1", "--due", "tomorrow"], "not a date"),
        (["--total", "1", "--issued", "2026-12-01", "--due", "2026-11-01"], "--due"),
        (["--total", "1", "--currency", "dollars"], "currency"),
        (["--total", "1", "--status", "pending"], "invalid choice"),
    ],
)
def test_add_invoice_errors(portal, extra, message):
    with pytest.raises(CommandError, match=message):
        add_invoice(*extra)
    assert Invoice.objects.count() == 0
    assert Customer.objects.count() == 0  # nothing half-written


def test_add_invoice_duplicate_and_unknown_host(portal):
    add_invoice("--total", "1")
    with pytest.raises(CommandError, match="already has an invoice numbered INV-1001"):
        add_invoice("--total", "2")
    with pytest.raises(CommandError, match="No portal answers"):
        run(
            "portal",
            "add-invoice",
            "--host",
            "x.localhost",
            "--customer",
            "A",
            "--number",
            "1",
            "--total",
            "1",
        )


def test_command_line_usage_and_errors_without_traceback():
    """The real CLI: argparse errors exit non-zero with a usage line, never a traceback."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    ok = subprocess.run(
        [sys.executable, "manage.py", "portal", "add-invoice", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0
    for option in [
        "--host",
        "--customer",
        "--number",
        "--total",
        "--currency",
        "--issued",
        "--due",
        "--status",
    ]:
        assert option in ok.stdout
    bad = subprocess.run(
        [sys.executable, "manage.py", "portal", "add-invoice", "--host", "x", "--status", "weird"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr


# --- seed_demo -------------------------------------------------------------------------------


def snapshot():
    return {
        "portals": list(Portal.objects.values_list("host", "name", "url", "support_email")),
        "customers": list(Customer.objects.order_by("pk").values_list("pk", "portal__host", "name")),
        "contacts": list(Contact.objects.order_by("pk").values_list("pk", "customer__name", "email")),
        "invoices": list(
            Invoice.objects.order_by("pk").values_list(
                "pk", "number", "status", "total", "balance", "issued_on"
            )
        ),
        "payments": list(Payment.objects.order_by("pk").values_list("pk", "amount", "paid_on")),
    }


def test_seed_demo_fills_the_demo_portal():
    output = run("seed_demo")
    portal = Portal.objects.get(host="acme.localhost")
    assert portal.name == "Acme Managed IT"
    assert portal.url == "http://acme.localhost:8000"
    acme = Customer.objects.get(portal=portal, name="Acme Ltd")
    globex = Customer.objects.get(portal=portal, name="Globex Corp")
    assert list(acme.contacts.values_list("email", flat=True)) == ["alice@example.com"]
    assert list(globex.contacts.values_list("email", flat=True)) == ["bob@example.com"]
    assert acme.invoices.count() == 8
    assert set(acme.invoices.values_list("status", flat=True)) == {"open", "paid", "overdue", "void"}
    assert globex.invoices.exists()
    for invoice in Invoice.objects.all():  # payments and balances agree
        paid = sum((p.amount for p in invoice.payments.all()), Decimal("0"))
        if invoice.status != "void":
            assert invoice.balance == invoice.total - paid
        assert invoice.due_on >= invoice.issued_on
    assert "http://acme.localhost:8000/" in output


def test_seed_demo_is_idempotent():
    run("seed_demo")
    before = snapshot()
    output = run("seed_demo")
    assert snapshot() == before
    assert "left unchanged" in output


def test_seed_demo_leaves_an_existing_portal_alone():
    run("portal", "create", "--url", "http://acme.localhost:8000", "--name", "Mine")
    run("seed_demo")
    portal = Portal.objects.get()
    assert portal.name == "Mine"
    assert not Customer.objects.exists()


def test_seed_demo_other_url_leaves_other_portals_alone(portal):
    run("seed_demo", "--url", "http://demo.localhost:8000")
    assert Portal.objects.count() == 2
    assert not Customer.objects.filter(portal=portal).exists()
    assert Customer.objects.filter(portal__host="demo.localhost").count() == 2


def test_seed_demo_bad_url():
    with pytest.raises(CommandError):
        run("seed_demo", "--url", "nonsense")
    assert not Portal.objects.exists()


def test_seeded_demo_shows_isolation_in_the_pages(client):
    from tests.factories import UserFactory

    run("seed_demo")
    portal = Portal.objects.get(host="acme.localhost")
    client.force_login(UserFactory(portal=portal, email="alice@example.com"))
    body = client.get("/invoices/").content.decode()
    assert "INV-1001" in body
    assert "GX-2001" not in body
