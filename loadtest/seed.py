"""Seed the loadtest's portals in one process: ``python -m loadtest.seed PEOPLE ISSUER TENANT PORT`` prints JSON."""

import io
import json
import os
import sys
from datetime import date, timedelta
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

from portal.models import Contact, Customer, Invoice, Portal  # noqa: E402

PEOPLE_PER_CUSTOMER = 4


def main(people: int, issuer: str, tenant: str, port: int) -> dict:
    out: dict = {"portals": {}, "people": [], "invoices": {}}
    for slug, name in (("acme", "Acme"), ("globex", "Globex")):
        portal = Portal.objects.create(name=name, url=f"http://{slug}.localhost:{port}")
        buffer = io.StringIO()
        call_command(
            "sso", "add", "--portal", portal.host, "--issuer", issuer, "--client-id", f"load-{slug}",
            "--tenant", tenant, stdout=buffer,
        )  # fmt: skip
        out["portals"][slug] = {"host": portal.host, **json.loads(buffer.getvalue())}
        customers = max(1, people // PEOPLE_PER_CUSTOMER + 1)
        for c in range(customers):
            customer = Customer.objects.create(portal=portal, name=f"{name} customer {c}")
            numbers = []
            for n in range(3):
                invoice = Invoice.objects.create(
                    customer=customer,
                    number=f"INV-{slug.upper()}-{c}-{n}",
                    issued_on=date.today() - timedelta(days=30),
                    due_on=date.today(),
                    total=Decimal("120.00"),
                    balance=Decimal("120.00"),
                )
                numbers.append({"id": invoice.pk, "number": invoice.number})
            out["invoices"][f"{slug}:{c}"] = numbers
            if slug == "acme":
                for p in range(PEOPLE_PER_CUSTOMER):
                    index = c * PEOPLE_PER_CUSTOMER + p
                    if index >= people:
                        break
                    email = f"person{index}@load.example"
                    Contact.objects.create(customer=customer, email=email, name=f"Person {index}")
                    out["people"].append({"email": email, "customer": f"acme:{c}"})
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))))
