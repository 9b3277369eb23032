"""One page of HaloPSA rows into the portal's tables: idempotent upserts keyed by (portal, HaloPSA id).

Each function takes a page of rows as HaloPSA answers them, writes it with ``bulk_create`` and
``bulk_update`` in one transaction and returns the counts. Values are read by ``rows`` (strictly: what
the columns cannot hold is refused there); a row that cannot be stored (no email, unknown client, an
impossible date or amount) is skipped and counted, never a crash, and the portal's copy of it is kept. Rows typed into
the admin before the connection existed are adopted when they match (same name / email / number).
Rows of a page that swap names, emails or numbers among themselves are written by ``unique_moves``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from portal.emails import normalize_email
from portal.invoice_figures import invoice_figures_changed
from portal.models import Contact, Customer, Invoice, Payment, Portal

from .rows import (
    ZERO,
    BadValue,
    bool_value,
    int_value,
    invoice_values,
    text_value,
)
from .unique_moves import UniqueValue, page_write

logger = logging.getLogger(__name__)


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
    #: Rows stored again at the end of the pass (``sync._Run._store_deferred``): users skipped because
    #: another synced contact of their customer has their email (it may be marked gone, a HaloPSA user
    #: deleted and created again, or move to another email in a later page), clients given their id in
    #: the name because a synced client has it (it may be renamed in a later page).
    deferred: list[dict] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.revoked_emails |= other.revoked_emails
        self.paid_changed |= other.paid_changed
        self.held |= other.held
        self.deferred += other.deferred

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


def _bad_row(kind: str, halo_id: int | None, exc: Exception, counts: Counts, kept: set[int]) -> None:
    """One row HaloPSA holds that the portal cannot store: skipped and counted, never the page's end.

    The portal's own copy (if any) is kept as it was and still counts as listed (``kept``), so a full
    sync does not void an invoice or end access because HaloPSA holds a value we cannot read.
    """
    counts.skipped += 1
    if halo_id is not None:
        kept.add(halo_id)
    reason = exc.field if isinstance(exc, BadValue) else exc.__class__.__name__
    logger.warning("HaloPSA row skipped", extra={"kind": kind, "halo_id": halo_id, "reason": reason})


def _still_listed(queryset, kept: set[int], seen_at: datetime) -> None:
    if kept:
        queryset.filter(halo_id__in=kept).update(halo_seen_at=seen_at)


def _apply(obj, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


# --- clients -> customers -----------------------------------------------------------------------
CUSTOMER_FIELDS = ["name", "inactive", "halo_id", "external_id"]
CUSTOMER_NAME = UniqueValue("name", scope="portal_id", portal="portal")


@transaction.atomic
def customers_upsert(*, portal: Portal, rows: list[dict], seen_at: datetime) -> Counts:
    counts, kept = Counts(), set()
    wanted, wanted_rows = {}, {}
    for row in rows:
        halo_id, name = int_value(row.get("id")), text_value(row.get("name"), 1000).strip()[:200]
        if halo_id is None or not name:
            _bad_row("client", halo_id, BadValue("id" if halo_id is None else "name"), counts, kept)
            continue
        wanted[halo_id] = {"name": name, "inactive": bool_value(row.get("inactive"))}
        wanted_rows[halo_id] = row
    existing = {c.halo_id: c for c in Customer.objects.filter(portal=portal, halo_id__in=wanted)}
    names = [v["name"] for v in wanted.values()]
    names_taken = dict(  # name -> its holder's HaloPSA id (None: typed into the admin)
        Customer.objects.filter(portal=portal, name__in=names)
        .exclude(halo_id__in=wanted)
        .values_list("name", "halo_id")
    )
    manual = {c.name: c for c in Customer.objects.filter(portal=portal, halo_id__isnull=True, name__in=names)}
    creates, updates, page_names = [], [], set()
    for halo_id, values in wanted.items():
        name = values["name"]
        customer = existing.get(halo_id)
        adopt = customer is None and name not in page_names and name in manual
        if adopt:
            customer = manual.pop(name)  # the customer typed into the admin before the connection
        elif name in page_names or name in names_taken:
            # Another customer has the name (a second HaloPSA client, or one typed into the admin that a
            # renamed client now matches): names are unique per portal, so this one says which it is.
            values["name"] = f"{name[:185]} (#{halo_id})"
            if name not in page_names and names_taken[name] is not None:
                counts.deferred.append(wanted_rows[halo_id])  # its holder may be renamed in a later page
        page_names.add(values["name"])
        values.update(halo_id=halo_id, external_id=str(halo_id))
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
    page_write(Customer, creates, updates, [*CUSTOMER_FIELDS, "halo_seen_at"], counts, CUSTOMER_NAME, portal)
    _still_listed(Customer.objects.filter(portal=portal), kept, seen_at)
    return counts


def _customers_by_halo_id(portal: Portal, client_ids) -> dict[int, Customer]:
    return {c.halo_id: c for c in Customer.objects.filter(portal=portal, halo_id__in=set(client_ids))}


# --- users -> contacts --------------------------------------------------------------------------
CONTACT_FIELDS = ["customer", "email", "name", "inactive", "can_view_invoices", "halo_id", "halo_checked_at"]
CONTACT_EMAIL = UniqueValue("email", "customer_id", "customer__portal", True, "@placeholder.invalid")


@transaction.atomic
def contacts_upsert(
    *, portal: Portal, rows: list[dict], seen_at: datetime, now: datetime | None = None
) -> Counts:
    """One contact per (customer, email): the portal's sign-in is by email.

    A user whose email another synced contact of the customer has is skipped: the first one counts. If
    that contact is inactive (its HaloPSA user deleted, this one created again with the same email), the
    new user takes its row over, so the person keeps their access. A contact whose email HaloPSA changed
    to one another contact has loses access at the old address (HaloPSA no longer gives it that email);
    if a synced contact holds it, the user is tried again at the end of the pass, as that contact may
    have moved on by then (two users swapping emails across pages).
    """
    counts, now = Counts(), now or timezone.now()
    customers = _customers_by_halo_id(portal, (int_value(r.get("client_id")) for r in rows))
    wanted, raw = {}, {}
    for row in rows:
        halo_id = int_value(row.get("id"))
        email = normalize_email(text_value(row.get("emailaddress"), 1000))
        customer = customers.get(int_value(row.get("client_id")))
        if halo_id is None or not email or "@" not in email or len(email) > 254 or customer is None:
            counts.skipped += 1  # not kept as listed: without that email or customer, access ends
            continue
        wanted[halo_id], raw[halo_id] = (
            {
                "customer": customer,
                "email": email,
                "name": text_value(row.get("name"), 200),
                "inactive": bool_value(row.get("inactive")),
                "can_view_invoices": bool_value(row.get("canaccessinvoices")),
            },
            row,
        )
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
    # Users with a contact first: a user new to the portal never takes an email from one who has it.
    for halo_id, values in sorted(wanted.items(), key=lambda item: item[0] not in existing):
        pair = (values["customer"].pk, values["email"])
        contact, holder = existing.get(halo_id), taken.get(pair)
        if (
            contact is None
            and pair not in page_pairs
            and holder
            and (holder.halo_id is None or holder.inactive)
        ):
            contact = taken.pop(pair)  # typed into the admin, or left by a deleted HaloPSA user
        elif pair in page_pairs or pair in taken:
            counts.skipped += 1  # the same email twice for one customer: the first one counts
            if contact is None or (pair not in page_pairs and taken[pair].halo_id is not None):
                counts.deferred.append(raw[halo_id])  # the holder may be gone, or move, later in the run
            if contact is not None and not contact.inactive:
                contact.inactive, contact.halo_checked_at, contact.halo_seen_at = True, now, seen_at
                counts.revoked_emails.add(contact.email)
                updates.append(contact)
            continue
        page_pairs.add(pair)
        values.update(halo_id=halo_id, halo_checked_at=now)
        if contact is None:
            creates.append(Contact(halo_seen_at=seen_at, **values))
            counts.created += 1
            continue
        was_allowed = contact.can_view_invoices and not contact.inactive
        old_email = contact.email
        changed = _apply(contact, {k: v for k, v in values.items() if k != "halo_checked_at"})
        contact.halo_checked_at, contact.halo_seen_at = now, seen_at
        if was_allowed and (
            old_email != contact.email or not (contact.can_view_invoices and not contact.inactive)
        ):
            counts.revoked_emails.add(old_email)
        updates.append(contact)
        counts.updated += changed
        counts.unchanged += not changed
    page_write(Contact, creates, updates, [*CONTACT_FIELDS, "halo_seen_at"], counts, CONTACT_EMAIL, portal)
    return counts


# --- invoices -----------------------------------------------------------------------------------
INVOICE_FIELDS = [
    "customer", "number", "issued_on", "due_on", "currency", "total", "balance", "status", "tax_total",
    "amount_paid", "halo_payment_status", "lines", "halo_last_modified", "halo_id",
]  # fmt: skip
INVOICE_NUMBER = UniqueValue("number", scope="customer_id", portal="customer__portal")


@transaction.atomic
def invoices_upsert(*, portal: Portal, rows: list[dict], seen_at: datetime) -> Counts:
    counts, today, kept = Counts(), timezone.localdate(), set()
    customers = _customers_by_halo_id(portal, (int_value(r.get("client_id")) for r in rows))
    wanted = {}
    for row in rows:
        halo_id, customer = int_value(row.get("id")), customers.get(int_value(row.get("client_id")))
        if row.get("posted") is False or halo_id is None or customer is None:
            counts.skipped += 1  # a draft is not the customer's business yet; no id or customer, no row
            continue
        try:
            values = invoice_values(row, customer, today=today)
        except Exception as exc:  # one row must never end the page (see rows.py)
            _bad_row("invoice", halo_id, exc, counts, kept)
            continue
        if values is None:
            _bad_row("invoice", halo_id, BadValue("invoice_date"), counts, kept)
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
    page_write(Invoice, creates, updates, [*INVOICE_FIELDS, "halo_seen_at"], counts, INVOICE_NUMBER, portal)
    _still_listed(Invoice.objects.filter(customer__portal=portal), kept, seen_at)
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
