"""``/_control/api/``: seed HaloPSA data, change it (firing webhooks), set fault knobs, read posts.

Mounted only with ``HALOSTUB_CONTROL=1``; JSON in, JSON out, driven by tests, the demo and the bench.
"""

import json
import random
import threading
from datetime import date, timedelta
from decimal import Decimal

import requests
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model

from . import knobs
from .api import _json
from .models import ApiClient, ApiInvoice, ApiPayment, ApiUser, ApiWebhook

KINDS = {"client": ApiClient, "user": ApiUser, "invoice": ApiInvoice}
STAMP_FIELD = {"client": "last_update", "user": "last_update", "invoice": "last_modified"}
_deliveries: list[dict] = []
_deliveries_lock = threading.Lock()


def _body(request):
    try:
        return json.loads(request.body or b"{}", parse_float=Decimal)
    except ValueError as exc:
        raise ValidationError("The body is not JSON.") from exc


def _control(view):
    @csrf_exempt
    @require_POST
    def inner(request):
        try:
            return view(request, _body(request))
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            return _json({"error": "invalid_request", "message": str(exc)}, status=400)

    return inner


@_control
def api_client(request, data):
    """An API application with "Client ID and Secret (Services)": the client-credentials grant."""
    Application = get_application_model()
    client_id = str(data["client_id"])
    app = Application.objects.filter(client_id=client_id).first() or Application(client_id=client_id)
    app.name = client_id
    app.client_type = Application.CLIENT_CONFIDENTIAL
    app.authorization_grant_type = Application.GRANT_CLIENT_CREDENTIALS
    app.client_secret = str(data["client_secret"])
    app.hash_client_secret = True
    app.redirect_uris = ""
    app.save()
    return _json({"client_id": client_id})


def _invoice_fields(item: dict) -> dict:
    out = {}
    for name in ("invoicenumber", "currency_code", "lines", "posted", "paymentstatus", "client_id"):
        if name in item:
            out[name] = item[name]
    for name in ("total", "tax_total", "amountpaid"):
        if name in item:
            out[name] = Decimal(str(item[name]))
    for name in ("invoice_date", "duedate"):
        if name in item:
            value = item[name]
            out[name] = value if isinstance(value, date) else parse_date(str(value)[:10])
    return out


def _fields(kind: str, item: dict) -> dict:
    if kind == "invoice":
        return _invoice_fields(item)
    allowed = {
        "client": {"name", "inactive", "toplevel_id"},
        "user": {"name", "emailaddress", "client_id", "site_id", "inactive", "canaccessinvoices"},
    }[kind]
    return {k: v for k, v in item.items() if k in allowed}


@_control
@transaction.atomic
def seed(request, data):
    """Create or replace clients, users and invoices given as lists of HaloPSA-shaped objects."""
    now = timezone.now()
    counts = {}
    for kind, key in (("client", "clients"), ("user", "users"), ("invoice", "invoices")):
        model = KINDS[kind]
        rows = [
            model(id=int(item["id"]), **{STAMP_FIELD[kind]: now}, **_fields(kind, item))
            for item in data.get(key) or []
        ]
        model.objects.filter(id__in=[r.id for r in rows]).delete()
        model.objects.bulk_create(rows, batch_size=500)
        counts[key] = len(rows)
    return _json(counts)


@_control
@transaction.atomic
def generate(request, data):
    """Bulk data for the bench: ``clients``, ``users`` and ``invoices`` counts, ids from 1."""
    rng = random.Random(int(data.get("seed", 7)))
    now = timezone.now()
    n_clients, n_users, n_invoices = int(data["clients"]), int(data["users"]), int(data["invoices"])
    ApiClient.objects.bulk_create(
        [ApiClient(id=i, name=f"Client {i:05d}", last_update=now) for i in range(1, n_clients + 1)],
        batch_size=1000,
    )
    ApiUser.objects.bulk_create(
        [
            ApiUser(
                id=i,
                name=f"User {i}",
                emailaddress=f"user{i}@client{(i - 1) % n_clients + 1}.example.com",
                client_id=(i - 1) % n_clients + 1,
                last_update=now,
            )
            for i in range(1, n_users + 1)
        ],
        batch_size=1000,
    )
    start = date(2026, 1, 1)
    invoices = []
    for i in range(1, n_invoices + 1):
        total = Decimal(rng.randrange(1000, 500000)) / 100
        issued = start + timedelta(days=rng.randrange(0, 300))
        invoices.append(
            ApiInvoice(
                id=i,
                invoicenumber=f"INV-{i:06d}",
                client_id=(i - 1) % n_clients + 1,
                invoice_date=issued,
                duedate=issued + timedelta(days=30),
                total=total,
                tax_total=(total / 6).quantize(Decimal("0.01")),
                last_modified=now,
                lines=[
                    {
                        "item_shortdescription": "Managed services",
                        "qty_order": 1,
                        "unit_price": float(total),
                        "net_amount": float(total),
                        "tax_amount": 0,
                    }
                ],
            )
        )
    ApiInvoice.objects.bulk_create(invoices, batch_size=1000)
    return _json({"clients": n_clients, "users": n_users, "invoices": n_invoices})


def deliver(*, kind: str, record_id: int, event: str) -> list[dict]:
    """POST the change to every active webhook (synchronously, bounded), and log each delivery."""
    results = []
    payload = {"event": event, "object": kind, "id": record_id, "timestamp": timezone.now().isoformat()}
    for hook in ApiWebhook.objects.filter(active=True):
        if hook.events and event not in hook.events and kind not in hook.events:
            continue
        headers, auth = {"Content-Type": "application/json"}, None
        if hook.authentication_type == "basic":
            auth = (hook.basic_username, hook.basic_password)
        elif hook.authentication_header:
            name, _, value = hook.authentication_header.partition(":")
            headers[name.strip()] = value.strip()
        try:
            response = requests.post(hook.url, json=payload, headers=headers, auth=auth, timeout=10)
            status = response.status_code
        except requests.RequestException as exc:
            status = f"error: {exc.__class__.__name__}"
        result = {"webhook": hook.id, "url": hook.url, "status": status, **payload}
        results.append(result)
        with _deliveries_lock:
            _deliveries.append(result)
    return results


@_control
def change(request, data):
    """Change one record (``kind``, ``id``, ``fields``), stamp it modified and fire webhooks."""
    kind = data["kind"]
    model = KINDS[kind]
    row = model.objects.get(id=int(data["id"]))
    for name, value in _fields(kind, data.get("fields") or {}).items():
        setattr(row, name, value)
    setattr(row, STAMP_FIELD[kind], timezone.now())
    row.save()
    deliveries = (
        deliver(kind=kind, record_id=row.id, event=f"{kind}_updated") if data.get("notify", True) else []
    )
    return _json({"ok": True, "deliveries": deliveries})


@_control
def delete(request, data):
    """Delete one record upstream (as an admin deleting an invoice in HaloPSA) and fire webhooks."""
    kind = data["kind"]
    KINDS[kind].objects.filter(id=int(data["id"])).delete()
    deliveries = deliver(kind=kind, record_id=int(data["id"]), event=f"{kind}_deleted")
    return _json({"ok": True, "deliveries": deliveries})


@_control
def knobs_view(request, data):
    if data.get("reset"):
        knobs.reset()
    knobs.set_knobs(throttle=data.get("throttle"), fail=data.get("fail"), slow=data.get("slow"))
    return _json({"ok": True})


@csrf_exempt
def posted_payments(request):
    return _json([p.posted_body for p in ApiPayment.objects.order_by("id")])


@csrf_exempt
def deliveries(request):
    with _deliveries_lock:
        return _json(list(_deliveries))


@csrf_exempt
def webhooks_list(request):
    return _json(
        [
            {
                "id": w.id,
                "url": w.url,
                "authentication_type": w.authentication_type,
                "basic_username": w.basic_username,
                "active": w.active,
            }
            for w in ApiWebhook.objects.all()
        ]
    )
