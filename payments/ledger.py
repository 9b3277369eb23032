"""Invoice balances moved by card money: one rule each way, for the settlement, refunds and a refund
Stripe failed. Callers hold the transaction; ``invoices_lock`` takes the rows in id order, the order
every payment path locks them in, so two paths never wait on each other crosswise."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from portal.models import Invoice

UNPAID = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)


def invoices_lock(*, ids) -> dict[int, Invoice]:
    return {i.pk: i for i in Invoice.objects.select_for_update().filter(pk__in=list(ids)).order_by("pk")}


def invoice_pay_down(*, invoice: Invoice, amount: Decimal) -> None:
    """``amount`` paid: the balance drops (never below zero); an unpaid invoice paid in full is paid."""
    invoice.balance = max(invoice.balance - amount, 0)
    fields = ["balance"]
    if invoice.balance == 0 and invoice.status in UNPAID:
        invoice.status = Invoice.Status.PAID
        fields.append("status")
    invoice.save(update_fields=fields)


def invoice_give_back(*, invoice: Invoice, amount: Decimal, today: date) -> None:
    """``amount`` refunded: the balance rises (never above the total); a paid invoice is due again."""
    invoice.balance = min(invoice.balance + amount, invoice.total)
    fields = ["balance"]
    if invoice.status == Invoice.Status.PAID and invoice.balance > 0:
        invoice.status = Invoice.Status.OVERDUE if invoice.due_on < today else Invoice.Status.OPEN
        fields.append("status")
    invoice.save(update_fields=fields)
