"""Audit rows for payments: what happened, who, from where; never keys, secrets or card data."""

from .models import PaymentAudit


def payment_audit(*, portal, kind: str, user=None, ip: str | None = None, card_payment=None, detail=None):
    return PaymentAudit.objects.create(
        portal=portal,
        kind=kind,
        user=user if getattr(user, "pk", None) else None,
        ip=ip,
        card_payment=card_payment,
        detail=detail or {},
    )
