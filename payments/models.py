"""Card payments through Stripe: one Stripe account per portal, payment attempts, their invoices,
refunds, saved cards, AutoPay, the mails they send and an audit trail.

Our rows are the ledger of what we asked Stripe to do; Stripe's signed webhooks (and the reconcile
task when a webhook is lost) say what actually happened. Money is ``Decimal`` in the invoice's
currency; Stripe's integer minor units exist only at the API edge (``payments.money``).
"""

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from portal.fields import EncryptedTextField

DEFAULT_AUTOPAY_TEXT = (
    "I authorise {portal} to charge the saved card for each invoice of {customer} on its due date, "
    "for the invoice's balance, until I turn AutoPay off."
)


def new_webhook_key() -> str:
    return secrets.token_urlsafe(18)


class StripeAccount(models.Model):
    """A portal's Stripe keys and payment rules. The secret key and webhook secret are write-only."""

    portal = models.OneToOneField("portal.Portal", on_delete=models.CASCADE, related_name="stripe_account")
    publishable_key = models.CharField(
        max_length=255, help_text="Stripe Dashboard > Developers > API keys > Publishable key (pk_…)."
    )
    secret_key = EncryptedTextField(
        blank=True, help_text="Stripe Dashboard > Developers > API keys > Secret key (sk_… or rk_…)."
    )
    webhook_secret = EncryptedTextField(
        "webhook signing secret",
        blank=True,
        help_text="Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret (whsec_…).",
    )
    live_mode = models.BooleanField(
        "live portal",
        default=False,
        help_text="This portal takes real money: only live keys (sk_live_, pk_live_) are accepted.",
    )
    currencies = models.CharField(
        max_length=200,
        blank=True,
        help_text="Comma-separated ISO codes customers may pay in, e.g. USD,EUR. Empty: any currency.",
    )
    allow_partial = models.BooleanField("customers may pay part of an invoice", default=False)
    allow_saved_cards = models.BooleanField("customers may save cards (and use AutoPay)", default=False)
    autopay_text = models.TextField(
        "AutoPay authorisation text",
        default=DEFAULT_AUTOPAY_TEXT,
        help_text="Shown to the person turning AutoPay on and recorded with their consent. "
        "{portal} and {customer} are replaced by the names.",
    )
    enabled = models.BooleanField(default=True, help_text="Off: no Pay buttons; webhooks still recorded.")
    webhook_key = models.CharField(max_length=40, unique=True, default=new_webhook_key, editable=False)
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, editable=False)
    last_test_message = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Stripe account"

    def __str__(self) -> str:
        return f"Stripe for {self.portal}"

    @property
    def webhook_url(self) -> str:
        return self.portal.absolute_url(f"/payments/webhook/{self.webhook_key}/")

    def currency_allowed(self, currency: str) -> bool:
        allowed = {c.strip().upper() for c in self.currencies.split(",") if c.strip()}
        return not allowed or currency.upper() in allowed

    @property
    def usable(self) -> bool:
        return self.enabled and bool(self.secret_key) and bool(self.publishable_key)


class CardPayment(models.Model):
    """One attempt to take money by card: what we computed, the PaymentIntent, and its outcome.

    ``public_id`` is what URLs carry (never the sequential pk). ``settled_at`` is set exactly once,
    in the same transaction that lowers the invoices' balances, which is what makes a duplicate
    webhook, a reconcile run and a browser return all harmless.
    """

    class Status(models.TextChoices):
        CREATED = "created", "Waiting for card"
        PROCESSING = "processing", "Processing"
        REQUIRES_ACTION = "requires_action", "Needs authentication"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Cancelled"

    class Kind(models.TextChoices):
        ONE_OFF = "one_off", "Pay now"
        AUTOPAY = "autopay", "AutoPay"

    PENDING = (Status.CREATED, Status.PROCESSING, Status.REQUIRES_ACTION)

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="card_payments")
    customer = models.ForeignKey("portal.Customer", on_delete=models.CASCADE, related_name="card_payments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ONE_OFF)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED, db_index=True)
    setup_intent_id = models.CharField(max_length=255, blank=True)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=30, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    failure_code = models.CharField(max_length=80, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    amount_refunded = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    #: Set while a Pay sends the intent create (``payments.checkout``), committed before it, so nothing
    #: is locked while Stripe answers: another Pay of this payment waits for that answer, and a payment
    #: of the same invoices is refused as already being charged. Cleared when the answer is recorded.
    confirming_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "card payment"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="cardpayment_pending_idx")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.get_status_display()})"

    @property
    def idempotency_key(self) -> str:
        """Derived from the attempt: a retried create (double click, timeout) is the same intent."""
        return f"portal-{self.portal_id}-cardpayment-{self.public_id}-intent"

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def card_label(self) -> str:
        if not self.card_last4:
            return "Card"
        return f"{(self.card_brand or 'card').title()} •••• {self.card_last4}"


class CardPaymentInvoice(models.Model):
    """One invoice paid by a card payment, with the part of the amount that goes to it."""

    card_payment = models.ForeignKey(CardPayment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey("portal.Invoice", on_delete=models.CASCADE, related_name="card_allocations")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    payment = models.OneToOneField(
        "portal.Payment", on_delete=models.SET_NULL, null=True, blank=True, related_name="card_allocation"
    )
    #: The part of this invoice's amount given back by refunds (the invoice's balance re-opened by it).
    amount_refunded = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["card_payment", "invoice"], name="cardpaymentinvoice_once")
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id}: {self.amount}"


class CardRefund(models.Model):
    """A refund asked of Stripe by a portal administrator (or seen in a ``charge.refunded`` event)."""

    card_payment = models.ForeignKey(CardPayment, on_delete=models.CASCADE, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=30, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.stripe_refund_id


class StripeEvent(models.Model):
    """Each webhook event processed once: Stripe redelivers, and a redelivery must change nothing."""

    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "event_id"], name="stripeevent_once")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PaymentNotice(models.Model):
    """A payment mail in the outbox: one row per (payment or invoice, kind, recipient), sent exactly once."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        FAILED = "failed", "Payment failed"
        AUTOPAY_UPCOMING = "autopay_upcoming", "AutoPay: upcoming charge"
        AUTOPAY_GAVE_UP = "autopay_gave_up", "AutoPay: gave up"

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="payment_notices")
    card_payment = models.ForeignKey(
        CardPayment, on_delete=models.CASCADE, null=True, blank=True, related_name="notices"
    )
    invoice = models.ForeignKey(
        "portal.Invoice", on_delete=models.CASCADE, null=True, blank=True, related_name="payment_notices"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    email = models.EmailField()
    created_at = models.DateTimeField(default=timezone.now)
    last_queued_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card_payment", "kind", "email"],
                condition=models.Q(card_payment__isnull=False),
                name="paymentnotice_once",
            ),
            models.UniqueConstraint(
                fields=["invoice", "kind", "email"],
                condition=models.Q(card_payment__isnull=True),
                name="paymentnotice_invoice_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.email}"


class PaymentAudit(models.Model):
    """An audit row per payment security event (keys changed, refunds, forged webhooks, AutoPay consent)."""

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="payment_audits")
    kind = models.CharField(max_length=40)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    card_payment = models.ForeignKey(CardPayment, on_delete=models.SET_NULL, null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "payment audit event"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.kind


class StripeCustomer(models.Model):
    """The Stripe Customer that holds a portal customer's saved cards (made on first save)."""

    customer = models.OneToOneField(
        "portal.Customer", on_delete=models.CASCADE, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.stripe_customer_id


class SavedCard(models.Model):
    """A card saved through a SetupIntent for off-session use: brand, last four and expiry only."""

    customer = models.ForeignKey("portal.Customer", on_delete=models.CASCADE, related_name="saved_cards")
    payment_method_id = models.CharField(max_length=255, unique=True)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{(self.brand or 'card').title()} •••• {self.last4}"


class AutoPay(models.Model):
    """AutoPay for one customer: charge the saved card on each invoice's due date.

    The authorisation is recorded as shown (text), with who gave it, when and from which address;
    turning AutoPay off keeps the row (``disabled_at``) as the history of that consent.
    """

    customer = models.ForeignKey("portal.Customer", on_delete=models.CASCADE, related_name="autopays")
    card = models.ForeignKey(SavedCard, on_delete=models.PROTECT, related_name="autopays")
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    authorised_email = models.EmailField()
    authorised_at = models.DateTimeField(default=timezone.now)
    authorised_ip = models.GenericIPAddressField(null=True, blank=True)
    authorisation_text = models.TextField()
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "AutoPay authorisation"
        ordering = ["-authorised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(disabled_at__isnull=True),
                name="autopay_one_active_per_customer",
            )
        ]

    def __str__(self) -> str:
        return f"AutoPay for {self.customer_id} with {self.card}"


class AutoPayCharge(models.Model):
    """AutoPay's charge of one invoice: at most one per invoice, ever (the unique constraint).

    Attempts follow ``RETRY_DAYS`` after the due date; after the last failure the charge gives up
    and both the customer and the MSP are told.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CHARGING = "charging", "Charging"
        SUCCEEDED = "succeeded", "Paid"
        GAVE_UP = "gave_up", "Gave up"

    #: Days after the due date of the retries after a failed first attempt on the due date.
    RETRY_DAYS = (1, 3, 7)

    invoice = models.OneToOneField("portal.Invoice", on_delete=models.CASCADE, related_name="autopay_charge")
    autopay = models.ForeignKey(AutoPay, on_delete=models.CASCADE, related_name="charges")
    state = models.CharField(max_length=20, choices=State.choices, default=State.SCHEDULED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_on = models.DateField(null=True, blank=True, db_index=True)
    card_payment = models.ForeignKey(
        CardPayment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"AutoPay of invoice {self.invoice_id}: {self.get_state_display()}"


from .models_writeback import HaloWriteBack  # noqa: E402,F401  (the HaloPSA write-back outbox)
