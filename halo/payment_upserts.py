"""HaloPSA's payments of synced invoices into ``Payment`` rows (the sync's last kind), linked to the
portal's own payments it wrote back so none is ever imported twice."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from portal.models import Invoice, Payment, Portal

from .client import payment_reference
from .rows import ZERO, BadValue, date_value, int_value, money_value, text_value
from .unique_moves import page_write
from .upserts import Counts, _apply, _bad_row


@transaction.atomic
def payments_upsert(*, portal: Portal, rows: list[dict]) -> Counts:
    """HaloPSA's payments of synced invoices. A payment the portal took and wrote back (its
    ``thirdpartyid`` is our ``Payment.reference``, the Stripe intent id) is linked to our row, never
    imported a second time, even when the sync reads it before the write-back stored HaloPSA's id."""
    counts = Counts()
    invoices = {
        i.halo_id: i
        for i in Invoice.objects.filter(
            customer__portal=portal, halo_id__in={int_value(r.get("invoice_id")) for r in rows}
        )
    }
    wanted, references = {}, {}
    for row in rows:
        halo_id, invoice = int_value(row.get("id")), invoices.get(int_value(row.get("invoice_id")))
        try:
            amount, paid_on = money_value(row.get("amount"), field="amount"), date_value(row.get("date"))
        except BadValue as exc:
            _bad_row("payment", halo_id, exc, counts, set())
            continue
        if halo_id is None or invoice is None or amount <= ZERO or paid_on is None:
            counts.skipped += 1
            continue
        wanted[halo_id] = {"invoice": invoice, "amount": amount, "paid_on": paid_on,
                           "method": text_value(row.get("method"), 50)}  # fmt: skip
        references[halo_id] = text_value(payment_reference(row), 255)
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
    page_write(
        Payment,
        creates,
        updates,
        ["invoice", "amount", "paid_on", "method", "halo_id", "halo_recorded_at"],
        counts,
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
