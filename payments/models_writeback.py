"""The HaloPSA write-back outbox: one row per (card payment, invoice) and per (refund, invoice).

Kept beside ``payments.models`` (which imports it) so each module stays readable. The row is the
truth of what HaloPSA must be told: it is created in the same transaction that settles the payment
(or records the refund), and it is ``posted`` only in the transaction that stores HaloPSA's payment id.
"""

from django.db import models
from django.utils import timezone


class HaloWriteBack(models.Model):
    """A payment (or a refund, as a negative payment) to record in HaloPSA with ``POST /api/InvoicePayment``.

    ``thirdpartyid`` is what HaloPSA keeps and what makes the write-back exactly once: the Stripe
    PaymentIntent id for a payment, the Stripe refund id for a refund. Before posting, the task asks
    HaloPSA for the invoice's payments and adopts one with this ``thirdpartyid`` instead of posting again
    (a worker that died between HaloPSA's answer and our commit).
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        #: A refund Stripe failed or cancelled after it was posted: the money is back in, posted again.
        REFUND_FAILED = "refund_failed", "Refund failed"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted to HaloPSA"
        FAILED = "failed", "Failed: needs attention"
        NOT_APPLICABLE = "not_applicable", "Not applicable"

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="halo_writebacks")
    card_payment = models.ForeignKey(
        "payments.CardPayment", on_delete=models.CASCADE, related_name="writebacks"
    )
    refund = models.ForeignKey(
        "payments.CardRefund", on_delete=models.CASCADE, null=True, blank=True, related_name="writebacks"
    )
    invoice = models.ForeignKey("portal.Invoice", on_delete=models.CASCADE, related_name="halo_writebacks")
    #: The portal's own ledger row this write-back is about (its ``halo_id`` is set when posted).
    payment = models.ForeignKey(
        "portal.Payment", on_delete=models.SET_NULL, null=True, blank=True, related_name="halo_writebacks"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PAYMENT)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="As posted to HaloPSA: negative for a refund."
    )
    thirdpartyid = models.CharField(
        "third-party id",
        max_length=255,
        help_text="Stripe's id sent as HaloPSA's thirdpartyid (the intent for a payment, the refund for a "
        "refund): a retry finds it in HaloPSA and never posts twice.",
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_queued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    halo_payment_id = models.IntegerField("HaloPSA payment id", null=True, blank=True)
    adopted = models.BooleanField(
        default=False, help_text="HaloPSA already had this payment (an earlier attempt posted it): adopted."
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "HaloPSA write-back"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["card_payment", "invoice"],
                condition=models.Q(refund__isnull=True),
                name="halowriteback_payment_once",
            ),
            models.UniqueConstraint(
                fields=["refund", "invoice", "kind"],
                condition=models.Q(refund__isnull=False),
                name="halowriteback_refund_once_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} to HaloPSA ({self.get_state_display()})"
