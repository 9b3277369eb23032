"""Tenants (portals) and the customer data each one holds.

Every row of customer data hangs off a ``Portal``; every query of it is scoped through
``portal.selectors`` so that one portal's people and staff never see another's.
"""

import re
from decimal import Decimal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from .emails import normalize_email

hex_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour like #1a56db.")


def host_of(url: str) -> str:
    """The host name a portal answers on: lower-case, without scheme, port or path."""
    return (urlsplit(url).hostname or "").lower().rstrip(".")


class Portal(models.Model):
    name = models.CharField("display name", max_length=120)
    url = models.URLField(
        "portal URL",
        max_length=200,
        help_text="The address customers open, e.g. https://billing.acme-msp.com. Its host name selects "
        "this portal; the port is ignored when matching.",
    )
    host = models.CharField(max_length=200, unique=True, editable=False)
    primary_colour = models.CharField(max_length=7, default="#1a56db", validators=[hex_colour])
    logo_url = models.URLField(blank=True, max_length=500)
    support_email = models.EmailField(blank=True)
    sso_only = models.BooleanField(
        "SSO only",
        default=False,
        help_text="Hide the email-code login: people can only sign in through an SSO button or link.",
    )

    class InvoiceAccess(models.TextChoices):
        EMAILS = "emails", "Emails on file (every contact of a customer sees its invoices)"
        HALO = "halo", "HaloPSA: “Can view their invoices” (checked at each sign-in)"

    invoice_access = models.CharField(
        "invoice access",
        max_length=10,
        choices=InvoiceAccess.choices,
        default=InvoiceAccess.EMAILS,
        help_text="Who may see invoices. The HaloPSA rule needs a HaloPSA API connection; people whose "
        "HaloPSA user lacks the permission are asked to request it from their provider.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.url = self.url.strip().rstrip("/")
        self.host = host_of(self.url)
        if kwargs.get("update_fields") is not None and "url" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "host"}
        super().save(*args, **kwargs)

    def clean(self):
        """A portal URL is an origin: http(s), a host name, an optional port and nothing else.

        A path, query or fragment would make every absolute URL we hand out (the SSO redirect URL
        admins copy into HaloPSA, mail links) wrong; two portals on one host name would make the
        tenant of a request ambiguous, so the host name is checked here (it is not a form field).
        """
        super().clean()
        if not self.url:
            return
        parts = urlsplit(self.url.strip())
        if parts.scheme not in ("http", "https"):
            raise ValidationError({"url": "The portal URL must start with http:// or https://."})
        if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValidationError(
                {
                    "url": "Enter only the scheme, host name and optional port, e.g. https://billing.example.com."
                }
            )
        host = host_of(self.url)
        if not host:
            raise ValidationError({"url": "The portal URL needs a host name."})
        if Portal.objects.filter(host=host).exclude(pk=self.pk).exists():
            raise ValidationError({"url": f"Another portal already answers on the host name {host}."})

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    def absolute_url(self, path: str) -> str:
        """An absolute URL on this portal, for mail and for URLs admins copy into HaloPSA."""
        return f"{self.base_url}{path}"


class Customer(models.Model):
    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(max_length=200)
    external_id = models.CharField(
        "external ID", max_length=100, blank=True, help_text="The client's ID in the PSA, if synced."
    )
    #: Synced from HaloPSA (the client's id there); None for rows typed into the admin.
    halo_id = models.IntegerField("HaloPSA ID", null=True, blank=True, editable=False)
    inactive = models.BooleanField(
        default=False, help_text="Inactive (or gone) in HaloPSA; kept, never deleted."
    )
    halo_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "name"], name="customer_unique_name_per_portal"),
            models.UniqueConstraint(
                fields=["portal", "halo_id"],
                condition=models.Q(halo_id__isnull=False),
                name="customer_unique_halo_id_per_portal",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(
        help_text="A person who signs in with this email sees this customer's invoices."
    )
    name = models.CharField(max_length=200, blank=True)
    halo_id = models.IntegerField("HaloPSA ID", null=True, blank=True, editable=False, db_index=True)
    inactive = models.BooleanField(default=False, help_text="Inactive (or gone) in HaloPSA.")
    can_view_invoices = models.BooleanField(
        default=True,
        help_text="HaloPSA's “Can view their invoices”; decides under the HaloPSA invoice-access rule.",
    )
    #: When ``can_view_invoices`` and ``inactive`` were last read from HaloPSA (sync or sign-in).
    halo_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    halo_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "customer", name="contact_unique_email_per_customer")
        ]
        indexes = [models.Index(Lower("email"), name="contact_email_lower_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        # Normalised before validation too, so the case-insensitive unique check sees what is stored.
        self.email = normalize_email(self.email)


class Invoice(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        OVERDUE = "overdue", "Overdue"
        VOID = "void", "Void"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=50)
    issued_on = models.DateField("issue date")
    due_on = models.DateField("due date")
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    balance = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # --- synced from HaloPSA (None / empty for invoices typed into the admin) ----------------
    halo_id = models.IntegerField("HaloPSA ID", null=True, blank=True, editable=False, db_index=True)
    halo_last_modified = models.DateTimeField(null=True, blank=True, editable=False)
    halo_payment_status = models.IntegerField(null=True, blank=True, editable=False)
    halo_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    lines = models.JSONField(default=list, blank=True, editable=False)
    pdf = models.FileField(upload_to="invoice-pdfs/", blank=True, editable=False)
    #: The ``halo_last_modified`` the stored PDF was rendered from; a newer one means re-fetch.
    pdf_last_modified = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "number"], name="invoice_unique_number_per_customer")
        ]
        indexes = [
            # The invoice list's orders (read backwards for newest first) and the dashboard's latest
            # invoices: a customer's page is read off the index instead of sorting all its invoices.
            models.Index(fields=["customer", "issued_on", "id"], name="invoice_customer_issued_idx"),
            models.Index(fields=["customer", "due_on", "id"], name="invoice_customer_due_idx"),
            # The dashboard's figures: only the invoices still asking for money, with what is summed,
            # so a long paid history is never read.
            models.Index(
                fields=["customer", "status", "currency", "balance"],
                name="invoice_unpaid_idx",
                condition=models.Q(status__in=["open", "overdue"], balance__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def clean(self):
        """Cross-field rules the columns cannot express; run by forms and ``full_clean``."""
        super().clean()
        errors = {}
        self.currency = (self.currency or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            errors["currency"] = "Enter a three-letter ISO 4217 currency code, e.g. USD."
        if self.issued_on and self.due_on and self.due_on < self.issued_on:
            errors["due_on"] = "The due date cannot be before the issue date."
        if (
            isinstance(self.total, Decimal)
            and isinstance(self.balance, Decimal)
            and self.total.is_finite()
            and self.balance.is_finite()
            and self.balance > self.total
        ):
            errors["balance"] = "The balance cannot be larger than the total."
        if errors:
            raise ValidationError(errors)


class Payment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    paid_on = models.DateField("date")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    method = models.CharField(max_length=50, blank=True, help_text="e.g. card, bank transfer")
    halo_id = models.IntegerField("HaloPSA ID", null=True, blank=True, editable=False, db_index=True)
    #: The card processor's id (Stripe PaymentIntent, or refund for a negative row): how the HaloPSA sync
    #: recognises a payment the portal wrote back (HaloPSA's ``thirdpartyid``) instead of importing it twice.
    reference = models.CharField(max_length=255, blank=True, db_index=True, editable=False)
    #: When HaloPSA's id was stored for a row the portal wrote back (HaloPSA's answer, or a sync that
    #: recognised it). A HaloPSA page read before then may not count the payment yet; the sync does not take
    #: such a page's amount due for the invoice (``halo.upserts``).
    halo_recorded_at = models.DateTimeField("recorded in HaloPSA at", null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-paid_on", "-id"]

    def __str__(self) -> str:
        return f"{self.amount} on {self.paid_on}"
