"""One page of HaloPSA rows into the portal's tables: idempotent upserts keyed by (portal, HaloPSA id).

Each function takes a page of rows as HaloPSA answers them, writes it with ``bulk_create`` and
``bulk_update`` in one transaction and returns the counts. Unknown values are stored, not fatal; a row
that cannot be stored (no email, unknown client) is skipped and counted, never a crash. Rows typed into
the admin before the connection existed are adopted when they match (same name / email / number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.invoice_figures import invoice_figures_changed
from portal.models import Contact, Customer, Invoice, Payment, Portal

from .client import payment_reference

ZERO = Decimal("0.00")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    #: Emails whose invoice access went from allowed to refused in this page (their sessions end).
    revoked_emails: set[str] = field(default_factory=set)
    #: HaloPSA ids of invoices whose amount paid changed (their payments are re-read).
    paid_changed: set[int] = field(default_factory=set)
    #: HaloPSA ids of invoices whose amounts were kept as the portal has them: the page may have been read
    #: before HaloPSA recorded a payment the portal wrote back (the sync reads them once more).
    held: set[int] = field(default_factory=set)

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.revoked_emails |= other.revoked_emails
        self.paid_changed |= other.paid_changed
        self.held |= other.held

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _money(value) -> Decimal:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except (InvalidOperation, ValueError):
        return ZERO
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else ZERO


def _date(value) -> date | None:
    when = _datetime(value)
    return when.date() if when else None


def _datetime(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    when = parse_datetime(value.replace("Z", "+00:00"))
    if when is None:
        return None
    return timezone.make_aware(when, timezone.get_current_timezone()) if timezone.is_naive(when) else when


def _bool(value) -> bool:
    return value is True or str(value).lower() in {"true", "1"}


def _write(model, creates: list, updates: list, fields: list[str]) -> None:
    if creates:
        model.objects.bulk_create(creates, batch_size=500)
    if updates:
        model.objects.bulk_update(updates, fields, batch_size=500)


def _apply(obj, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# --- clients -> customers -----------------------------------------------------------------------
CUSTOMER_FIELDS = ["name", "inactive", "halo_id", "external_id"]


@transaction.atomic
def customers_upsert(*, portal: Portal, rows: list[dict], seen_at: datetime) -> Counts:
    counts = Counts()
    wanted = {}
    for row in rows:
        halo_id, name = _int(row.get("id")), str(row.get("name") or "").strip()[:200]
        if halo_id is None or not name:
            counts.skipped += 1
            continue
        wanted[halo_id] = {"name": name, "inactive": _bool(row.get("inactive"))}
    existing = {c.halo_id: c for c in Customer.objects.filter(portal=portal, halo_id__in=wanted)}
    names_taken = dict(
        Customer.objects.filter(portal=portal, name__in=[v["name"] for v in wanted.values()])
        .exclude(halo_id__in=wanted)
        .values_list("name", "halo_id")
    )
    manual = {
        c.name: c
        for c in Customer.objects.filter(
            portal=portal, halo_id__isnull=True, name__in=[v["name"] for v in wanted.values()]
        )
    }
    creates, updates, page_names = [], [], set()
    for halo_id, values in wanted.items():
        name = values["name"]
        if name in page_names or (name in names_taken and names_taken[name] is not None):
            values["name"] = f"{name[:185]} (#{halo_id})"  # two HaloPSA clients with one name
        page_names.add(values["name"])
        values.update(halo_id=halo_id, external_id=str(halo_id))
        customer = existing.get(halo_id) or manual.pop(name, None)
        if customer is None:
            creates.append(Customer(portal=portal, halo_seen_at=seen_at, **values))
            counts.created += 1
            continue
        changed = _apply(customer, values)
        customer.halo_seen_at = seen_at
        updates.append(customer)
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    _write(Customer, creates, updates, [*CUSTOMER_FIELDS, "halo_seen_at"])
    return counts


def _customers_by_halo_id(portal: Portal, client_ids) -> dict[int, Customer]:
    return {c.halo_id: c for c in Customer.objects.filter(portal=portal, halo_id__in=set(client_ids))}


# --- users -> contacts --------------------------------------------------------------------------
CONTACT_FIELDS = ["customer", "email", "name", "inactive", "can_view_invoices", "halo_id", "halo_checked_at"]


@transaction.atomic
def contacts_upsert(
    *, portal: Portal, rows: list[dict], seen_at: datetime, now: datetime | None = None
) -> Counts:
    counts, now = Counts(), now or timezone.now()
    customers = _customers_by_halo_id(portal, (_int(r.get("client_id")) for r in rows))
    wanted = {}
    for row in rows:
        halo_id = _int(row.get("id"))
        email = str(row.get("emailaddress") or "").strip().lower()
        customer = customers.get(_int(row.get("client_id")))
        if halo_id is None or not email or "@" not in email or len(email) > 254 or customer is None:
            counts.skipped += 1
            continue
        wanted[halo_id] = {
            "customer": customer,
            "email": email,
            "name": str(row.get("name") or "")[:200],
            "inactive": _bool(row.get("inactive")),
            "can_view_invoices": _bool(row.get("canaccessinvoices")),
        }
    existing = {
        c.halo_id: c
        for c in Contact.objects.filter(customer__portal=portal, halo_id__in=wanted).select_related(
            "customer"
        )
    }
    pairs = {(v["customer"].pk, v["email"]) for v in wanted.values()}
    taken = {
        (c.customer_id, c.email.lower()): c
        for c in Contact.objects.filter(
            customer_id__in={p[0] for p in pairs}, email__in={p[1] for p in pairs}
        ).exclude(halo_id__in=wanted)
    }
    creates, updates, page_pairs = [], [], set()
    for halo_id, values in wanted.items():
        pair = (values["customer"].pk, values["email"])
        contact = existing.get(halo_id)
        if contact is None and pair in taken and taken[pair].halo_id is None:
            contact = taken.pop(pair)  # adopt the contact typed into the admin
        elif pair in page_pairs or (pair in taken and contact is None):
            counts.skipped += 1  # the same email twice for one customer: the first one counts
            continue
        page_pairs.add(pair)
        values.update(halo_id=halo_id, halo_checked_at=now)
        if contact is None:
            creates.append(Contact(halo_seen_at=seen_at, **values))
            counts.created += 1
            continue
        was_allowed = contact.can_view_invoices and not contact.inactive
        changed = _apply(contact, {k: v for k, v in values.items() if k != "halo_checked_at"})
        contact.halo_checked_at, contact.halo_seen_at = now, seen_at
        if was_allowed and not (contact.can_view_invoices and not contact.inactive):
            counts.revoked_emails.add(contact.email)
        updates.append(contact)
        counts.updated += changed
        counts.unchanged += not changed
    _write(Contact, creates, updates, [*CONTACT_FIELDS, "halo_seen_at"])
    return counts


# --- invoices -----------------------------------------------------------------------------------
INVOICE_FIELDS = [
    "customer", "number", "issued_on", "due_on", "currency", "total", "balance", "status", "tax_total",
    "amount_paid", "halo_payment_status", "lines", "halo_last_modified", "halo_id",
]  # fmt: skip


def invoice_values(row: dict, customer: Customer, *, today: date) -> dict | None:
    issued = _date(row.get("invoice_date"))
    if issued is None:
        return None
    due = _date(row.get("duedate")) or issued
    total, paid = _money(row.get("total")), _money(row.get("amountpaid"))
    due_amount = _money(row.get("amountdue")) if row.get("amountdue") is not None else total - paid
    balance = max(ZERO, min(due_amount, max(total, ZERO)))
    if balance == ZERO:
        status = Invoice.Status.PAID
    elif due < today:
        status = Invoice.Status.OVERDUE
    else:
        status = Invoice.Status.OPEN
    currency = str(row.get("currency_code") or "USD").strip().upper()[:3] or "USD"
    lines = [
        {k: (str(v) if isinstance(v, Decimal) else v) for k, v in line.items()}
        for line in row.get("lines") or []
        if isinstance(line, dict)
    ]
    return {
        "customer": customer,
        "number": str(row.get("invoicenumber") or row.get("id"))[:50],
        "issued_on": issued,
        "due_on": max(due, issued),
        "currency": currency,
        "total": total,
        "balance": balance,
        "status": status,
        "tax_total": _money(row.get("tax_total")),
        "amount_paid": paid,
        "halo_payment_status": _int(row.get("paymentstatus")),
        "lines": lines,
        "halo_last_modified": _datetime(row.get("last_modified")),
    }


@transaction.atomic
def invoices_upsert(*, portal: Portal, rows: list[dict], seen_at: datetime) -> Counts:
    counts, today = Counts(), timezone.localdate()
    customers = _customers_by_halo_id(portal, (_int(r.get("client_id")) for r in rows))
    wanted = {}
    for row in rows:
        halo_id, customer = _int(row.get("id")), customers.get(_int(row.get("client_id")))
        if row.get("posted") is False:
            counts.skipped += 1  # drafts are not the customer's business yet
            continue
        values = invoice_values(row, customer, today=today) if customer and halo_id is not None else None
        if values is None:
            counts.skipped += 1
            continue
        wanted[halo_id] = values
    # Locked (in id order, as the payment settlement locks them): a payment settling now either commits
    # first, and its row is counted below, or waits and lowers the balance this page stores.
    existing = {
        i.halo_id: i
        for i in Invoice.objects.select_for_update(of=("self",))
        .filter(customer__portal=portal, halo_id__in=wanted)
        .order_by("pk")
    }
    _count_unsent_payments(wanted, existing)
    _hold_amounts_recorded_since(wanted, existing, since=seen_at, counts=counts)
    pairs = {(v["customer"].pk, v["number"]) for v in wanted.values()}
    taken = {
        (i.customer_id, i.number): i
        for i in Invoice.objects.filter(
            customer_id__in={p[0] for p in pairs}, number__in={p[1] for p in pairs}
        ).exclude(halo_id__in=wanted)
    }
    creates, updates, page_pairs = [], [], set()
    for halo_id, values in wanted.items():
        pair = (values["customer"].pk, values["number"])
        invoice = existing.get(halo_id)
        if invoice is None and pair in taken and taken[pair].halo_id is None:
            invoice = taken.pop(pair)
        elif pair in page_pairs or pair in taken:
            values["number"] = f"{values['number'][:38]} (#{halo_id})"
        page_pairs.add((values["customer"].pk, values["number"]))
        values["halo_id"] = halo_id
        if invoice is None:
            creates.append(Invoice(halo_seen_at=seen_at, **values))
            counts.created += 1
            if values["amount_paid"]:
                counts.paid_changed.add(halo_id)
            continue
        old_paid = invoice.amount_paid
        changed = _apply(invoice, values)
        invoice.halo_seen_at = seen_at
        if invoice.amount_paid != old_paid:
            counts.paid_changed.add(halo_id)
        updates.append(invoice)
        counts.updated += changed
        counts.unchanged += not changed
    _write(Invoice, creates, updates, [*INVOICE_FIELDS, "halo_seen_at"])
    if creates or counts.updated:
        invoice_figures_changed(portal_id=portal.pk)  # bulk writes send no signals
    return counts


def _count_unsent_payments(wanted: dict, existing: dict) -> None:
    """Payments the portal took that HaloPSA does not know yet (``reference`` set, no HaloPSA id: the
    write-back is still pending) stay counted, so a sync never re-opens an invoice the customer just paid
    (and invites a second payment). Once written back, HaloPSA's amount due includes them."""
    unsent = {}
    for row in (
        Payment.objects.filter(invoice__in=list(existing.values()), halo_id__isnull=True)
        .exclude(reference="")
        .values("invoice__halo_id", "amount")
    ):
        key = row["invoice__halo_id"]
        unsent[key] = unsent.get(key, ZERO) + row["amount"]
    for halo_id, amount in unsent.items():
        values = wanted[halo_id]
        values["balance"] = max(ZERO, min(values["balance"] - amount, max(values["total"], ZERO)))
        if values["balance"] == ZERO:
            values["status"] = Invoice.Status.PAID
        elif values["status"] == Invoice.Status.PAID:
            values["status"] = (
                Invoice.Status.OVERDUE if values["due_on"] < timezone.localdate() else Invoice.Status.OPEN
            )


MONEY_FIELDS = ("balance", "status", "amount_paid", "halo_payment_status")


def _hold_amounts_recorded_since(wanted: dict, existing: dict, *, since: datetime, counts: Counts) -> None:
    """Keep the portal's amounts for invoices with a write-back HaloPSA recorded at or after ``since``.

    ``since`` is when this page was asked for (or the run started, which is earlier). A write-back recorded
    after that may be missing from the page: HaloPSA would still show the amount due the customer just
    paid, and storing it would re-open the invoice and invite a second payment (a refund the other way).
    Subtracting the payment as if unsent is no fix, because the page may already count it. So these
    invoices keep their balance, status and amount paid (everything else is stored), and the caller reads
    them once more (``Counts.held``), after the write-back is committed.
    """
    recent = set(
        Payment.objects.filter(invoice__in=list(existing.values()), halo_recorded_at__gte=since)
        .exclude(reference="")
        .values_list("invoice__halo_id", flat=True)
    )
    for halo_id in recent:
        invoice, values = existing[halo_id], wanted[halo_id]
        if values["balance"] != invoice.balance:  # where they agree, the page is stored as it is
            values.update({name: getattr(invoice, name) for name in MONEY_FIELDS})
            counts.held.add(halo_id)


@transaction.atomic
def invoice_void(*, portal: Portal, halo_id: int) -> bool:
    """An invoice gone upstream (deleted in HaloPSA): kept, marked void with nothing to pay."""
    voided = bool(
        Invoice.objects.filter(customer__portal=portal, halo_id=halo_id)
        .exclude(status=Invoice.Status.VOID)
        .update(status=Invoice.Status.VOID, balance=ZERO)
    )
    if voided:
        invoice_figures_changed(portal_id=portal.pk)
    return voided


# --- payments -----------------------------------------------------------------------------------
@transaction.atomic
def payments_upsert(*, portal: Portal, rows: list[dict]) -> Counts:
    """HaloPSA's payments of synced invoices. A payment the portal took and wrote back (its
    ``thirdpartyid`` is our ``Payment.reference``, the Stripe intent id) is linked to our row, never
    imported a second time, even when the sync reads it before the write-back stored HaloPSA's id."""
    counts = Counts()
    invoices = {
        i.halo_id: i
        for i in Invoice.objects.filter(
            customer__portal=portal, halo_id__in={_int(r.get("invoice_id")) for r in rows}
        )
    }
    wanted, references = {}, {}
    for row in rows:
        halo_id, invoice = _int(row.get("id")), invoices.get(_int(row.get("invoice_id")))
        amount, paid_on = _money(row.get("amount")), _date(row.get("date"))
        if halo_id is None or invoice is None or amount <= ZERO or paid_on is None:
            counts.skipped += 1
            continue
        wanted[halo_id] = {"invoice": invoice, "amount": amount, "paid_on": paid_on,
                           "method": str(row.get("method") or "")[:50]}  # fmt: skip
        references[halo_id] = payment_reference(row)
    existing = {
        p.halo_id: p for p in Payment.objects.filter(invoice__customer__portal=portal, halo_id__in=wanted)
    }
    linked = _written_back(wanted, references, existing)
    existing.update(linked)
    creates, updates = [], []
    for halo_id, values in wanted.items():
        payment = existing.get(halo_id)
        if payment is None:
            creates.append(Payment(halo_id=halo_id, **values))
            counts.created += 1
        elif _apply(payment, values) or halo_id in linked:
            updates.append(payment)
            counts.updated += 1
        else:
            counts.unchanged += 1
    _write(
        Payment, creates, updates, ["invoice", "amount", "paid_on", "method", "halo_id", "halo_recorded_at"]
    )
    return counts


def _written_back(wanted: dict, references: dict, existing: dict) -> dict[int, Payment]:
    """Our own rows (no HaloPSA id yet) that these HaloPSA payments are, by (invoice, reference)."""
    unknown = {h: r for h, r in references.items() if r and h not in existing}
    if not unknown:
        return {}
    ours = {
        (p.invoice_id, p.reference): p
        for p in Payment.objects.filter(
            invoice_id__in={wanted[h]["invoice"].pk for h in unknown},
            reference__in=set(unknown.values()),
            halo_id__isnull=True,
        )
    }
    linked = {}
    for halo_id, reference in unknown.items():
        payment = ours.pop((wanted[halo_id]["invoice"].pk, reference), None)
        if payment is not None:
            payment.halo_id = halo_id  # _apply leaves it; the update writes it
            payment.halo_recorded_at = timezone.now()
            linked[halo_id] = payment
    return linked
