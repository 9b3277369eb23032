"""``python -m halostub standin_api …``: the demo's HaloPSA API data, changes and webhook.

- ``seed-demo``: the API application ``portal-sync`` (secret ``portal-sync-secret``), clients Acme Ltd and
  Globex Corp, their users alice@ and bob@ (both with "Can view their invoices") and a few posted invoices;
- ``change-invoice NUMBER [--total T] [--paid P] [--number NEW]``: change an invoice as an agent would in
  HaloPSA, stamp it modified and deliver the webhook to the registered URL (so the portal re-reads it);
- ``webhook URL --username U --password P``: register the portal's webhook (basic authentication).
"""

import json
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from oauth2_provider.models import get_application_model

from halostub.api_control import deliver
from halostub.models import ApiClient, ApiInvoice, ApiUser, ApiWebhook

API_CLIENT_ID, API_CLIENT_SECRET = "portal-sync", "portal-sync-secret"
CLIENTS = [(1, "Acme Ltd"), (2, "Globex Corp")]
USERS = [(11, "Alice Anderson", "alice@example.com", 1), (12, "Bob Brown", "bob@example.com", 2)]
# (id, number, client, days ago issued, total, paid)
INVOICES = [
    (5001, "HALO-5001", 1, 40, "1250.00", "1250.00"),
    (5002, "HALO-5002", 1, 12, "480.00", "0"),
    (5003, "HALO-5003", 1, 3, "96.50", "0"),
    (5004, "HALO-5004", 2, 20, "2200.00", "0"),
    (5005, "HALO-5005", 2, 60, "150.00", "0"),
]


class Command(BaseCommand):
    help = "Seed the demo's HaloPSA API data, change an invoice (with webhook), register a webhook."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("seed-demo")
        change = sub.add_parser("change-invoice")
        change.add_argument("number")
        change.add_argument("--total")
        change.add_argument("--paid")
        change.add_argument("--number", dest="new_number")
        hook = sub.add_parser("webhook")
        hook.add_argument("url")
        hook.add_argument("--username", required=True)
        hook.add_argument("--password", required=True)

    def handle(self, *args, **options):
        action = options["action"]
        if action == "seed-demo":
            self.stdout.write(json.dumps(seed_demo()))
        elif action == "webhook":
            ApiWebhook.objects.update_or_create(
                url=options["url"],
                defaults={"authentication_type": "basic", "basic_username": options["username"],
                          "basic_password": options["password"], "active": True, "events": []},
            )  # fmt: skip
            self.stdout.write(json.dumps({"url": options["url"]}))
        else:
            invoice = ApiInvoice.objects.filter(invoicenumber=options["number"]).first()
            if invoice is None:
                raise CommandError(f"No invoice {options['number']} at the stand-in.")
            if options["total"]:
                invoice.total = Decimal(options["total"])
            if options["paid"]:
                invoice.amountpaid = Decimal(options["paid"])
            if options["new_number"]:
                invoice.invoicenumber = options["new_number"]
            invoice.last_modified = timezone.now()
            invoice.save()
            results = deliver(kind="invoice", record_id=invoice.id, event="invoice_updated")
            self.stdout.write(
                json.dumps({"invoice": invoice.invoicenumber, "deliveries": results}, default=str)
            )


def seed_demo() -> dict:
    """Idempotent: existing rows are left as the person may have changed them."""
    Application = get_application_model()
    if not Application.objects.filter(client_id=API_CLIENT_ID).exists():
        Application.objects.create(
            client_id=API_CLIENT_ID, client_secret=API_CLIENT_SECRET, name="Billing portal sync (demo)",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, hash_client_secret=True,
        )  # fmt: skip
    now, today = timezone.now(), date.today()
    for pk, name in CLIENTS:
        ApiClient.objects.get_or_create(id=pk, defaults={"name": name, "last_update": now})
    for pk, name, email, client in USERS:
        ApiUser.objects.get_or_create(
            id=pk, defaults={"name": name, "emailaddress": email, "client_id": client, "last_update": now}
        )
    for pk, number, client, ago, total, paid in INVOICES:
        issued = today - timedelta(days=ago)
        ApiInvoice.objects.get_or_create(
            id=pk,
            defaults={
                "invoicenumber": number, "client_id": client, "invoice_date": issued,
                "duedate": issued + timedelta(days=30), "total": Decimal(total), "amountpaid": Decimal(paid),
                "tax_total": (Decimal(total) / 6).quantize(Decimal("0.01")), "last_modified": now,
                "lines": [{"item_shortdescription": "Managed IT services", "qty_order": 1,
                           "unit_price": total, "net_amount": total, "tax_amount": "0"}],
            },
        )  # fmt: skip
    return {
        "client_id": API_CLIENT_ID,
        "clients": len(CLIENTS),
        "users": len(USERS),
        "invoices": len(INVOICES),
    }
