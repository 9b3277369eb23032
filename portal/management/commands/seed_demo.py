"""``manage.py seed_demo [--url URL] [--name NAME]``: a demo portal with customers, contacts and invoices.

Two customers on one portal, each with its own contact, so that tenant isolation is visible:
alice@example.com sees Acme Ltd's invoices and never Globex Corp's (bob@example.com's).
A portal that already answers on the URL's host is left exactly as it is, so running the
command twice changes nothing (the one-command demo runs it on every start).
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from portal import services
from portal.models import Invoice, Portal, host_of

DEFAULT_URL = "http://acme.localhost:8000"
DEFAULT_NAME = "Acme Managed IT"

# (customer, contact email, contact name)
CONTACTS = [
    ("Acme Ltd", "alice@example.com", "Alice Anderson"),
    ("Globex Corp", "bob@example.com", "Bob Brown"),
]

# (customer, number, total, days issued before today, payment terms in days, status, payments)
# Statuses are as the PSA reports them; "paid" invoices are paid through recorded payments.
INVOICES = [
    ("Acme Ltd", "INV-1001", "1250.00", 150, 30, "paid", [("1250.00", 125, "bank transfer")]),
    ("Acme Ltd", "INV-1002", "480.00", 120, 30, "paid", [("480.00", 95, "card")]),
    ("Acme Ltd", "INV-1003", "975.50", 90, 30, "overdue", [("300.00", 50, "card")]),
    ("Acme Ltd", "INV-1004", "300.00", 75, 30, "void", []),
    ("Acme Ltd", "INV-1005", "1320.00", 60, 30, "overdue", []),
    ("Acme Ltd", "INV-1006", "215.00", 40, 30, "paid", [("215.00", 12, "card")]),
    ("Acme Ltd", "INV-1007", "2450.00", 20, 30, "open", []),
    ("Acme Ltd", "INV-1008", "860.25", 5, 30, "open", []),
    ("Globex Corp", "GX-2001", "5400.00", 70, 30, "paid", [("5400.00", 45, "bank transfer")]),
    ("Globex Corp", "GX-2002", "3100.00", 45, 30, "overdue", []),
    ("Globex Corp", "GX-2003", "1875.00", 10, 30, "open", []),
]


class Command(BaseCommand):
    help = "Fill a demo portal with customers, contacts and invoices; existing portals are left alone."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default=DEFAULT_URL, help=f"The demo portal's URL (default {DEFAULT_URL})."
        )
        parser.add_argument(
            "--name", default=DEFAULT_NAME, help=f"Its display name (default {DEFAULT_NAME!r})."
        )

    def handle(self, *args, **options):
        url = options["url"].strip().rstrip("/")
        existing = Portal.objects.filter(host=host_of(url)).first() if host_of(url) else None
        if existing is not None:
            self.stdout.write(f"Portal {existing.name!r} already answers on {existing.host}; left unchanged.")
            return
        try:
            portal = seed_demo_portal(url=url, name=options["name"])
        except ValidationError as exc:
            raise CommandError(services.validation_message(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Seeded demo portal {portal.name!r}: open {portal.base_url}/"))
        for customer, email, _name in CONTACTS:
            self.stdout.write(f"  {email} sees the invoices of {customer}")


@transaction.atomic
def seed_demo_portal(*, url: str, name: str) -> Portal:
    """Creates the demo portal and its data in one transaction: all of it or nothing."""
    portal = services.portal_create(url=url, name=name)
    portal.support_email = "billing@example.com"
    portal.save(update_fields=["support_email"])
    for customer, email, contact_name in CONTACTS:
        services.contact_add(portal=portal, customer_name=customer, email=email, name=contact_name)
    today = timezone.localdate()
    for customer, number, total, age, terms, status, payments in INVOICES:
        issued = today - datetime.timedelta(days=age)
        # Paid invoices are created open and settled by their payments, so the two always agree.
        invoice = services.invoice_add(
            portal=portal,
            customer_name=customer,
            number=number,
            total=Decimal(total),
            issued=issued,
            due=issued + datetime.timedelta(days=terms),
            status=Invoice.Status.OPEN if status == Invoice.Status.PAID else status,
        )
        for amount, days_ago, method in payments:
            services.payment_add(
                invoice=invoice,
                amount=Decimal(amount),
                paid_on=today - datetime.timedelta(days=days_ago),
                method=method,
            )
    return portal
