"""Tenants (portals) and the customer data each one holds.

Every row of customer data hangs off a ``Portal``; every query of it is scoped through
``portal.selectors`` so that one portal's people and staff never see another's.
"""

from decimal import Decimal
from urllib.parse import urlsplit

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.url = self.url.rstrip("/")
        self.host = host_of(self.url)
        if kwargs.get("update_fields") is not None and "url" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "host"}
        super().save(*args, **kwargs)

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

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "name"], name="customer_unique_name_per_portal")
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(
        help_text="A person who signs in with this email sees this customer's invoices."
    )
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "customer", name="contact_unique_email_per_customer")
        ]
        indexes = [models.Index(Lower("email"), name="contact_email_lower_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


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

    class Meta:
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "number"], name="invoice_unique_number_per_customer")
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    paid_on = models.DateField("date")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    method = models.CharField(max_length=50, blank=True, help_text="e.g. card, bank transfer")

    class Meta:
        ordering = ["-paid_on", "-id"]

    def __str__(self) -> str:
        return f"{self.amount} on {self.paid_on}"
