"""A portal's HaloPSA API connection, its sync runs and the webhook deliveries it received."""

import secrets

from django.db import models
from django.utils import timezone

from portal.fields import EncryptedTextField

DEFAULT_SCOPE = "all"


def new_connection_key() -> str:
    return secrets.token_urlsafe(18)


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class HaloConnection(models.Model):
    """How one portal reads HaloPSA's API: an application with "Client ID and Secret (Services)"."""

    portal = models.OneToOneField("portal.Portal", on_delete=models.CASCADE, related_name="halo_connection")
    key = models.CharField(max_length=40, unique=True, default=new_connection_key, editable=False)
    api_url = models.URLField(
        "API URL",
        max_length=300,
        help_text="HaloPSA: Configuration > Integrations > HaloPSA API > “Resource Server”, e.g. "
        "https://acme.halopsa.com/api.",
    )
    auth_url = models.URLField(
        "authorisation server",
        max_length=300,
        help_text="e.g. https://acme.halopsa.com/auth (the token endpoint is its /token).",
    )
    client_id = models.CharField("client ID", max_length=255)
    client_secret = EncryptedTextField(blank=True, help_text="Write-only; stored encrypted.")
    tenant = models.CharField(
        "HaloPSA tenant", max_length=100, blank=True, help_text="Hosted instances only."
    )
    scope = models.CharField(
        max_length=300,
        default=DEFAULT_SCOPE,
        help_text="“all”, or the narrower “read:customers read:invoices” (add “edit:invoices” to record "
        "payments and “admin:webhooks” to register the webhook).",
    )
    enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField("sync interval (minutes)", default=15)
    webhook_username = models.CharField(max_length=60, default="halopsa", editable=False)
    webhook_secret = EncryptedTextField(default=new_webhook_secret, editable=False)
    # --- sync state ---------------------------------------------------------------------------
    #: Start of the last successful run: the next incremental run reads what changed since (minus overlap).
    watermark = models.DateTimeField(null=True, blank=True, editable=False)
    last_full_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: One sync at a time: a run holds this lease and renews it per page; a crashed worker's lease expires.
    lock_token = models.CharField(max_length=40, blank=True, editable=False)
    lock_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "HaloPSA connection"

    def __str__(self) -> str:
        return f"HaloPSA API for {self.portal}"

    @property
    def token_url(self) -> str:
        return f"{self.auth_url.rstrip('/')}/token"

    @property
    def web_url(self) -> str:
        """HaloPSA's agent web app (the API URL without ``/api``), for "View in HaloPSA" links."""
        base = self.api_url.rstrip("/")
        return base[: -len("/api")] if base.endswith("/api") else base

    @property
    def webhook_url(self) -> str:
        return self.portal.absolute_url(f"/halo/webhook/{self.key}/")


class SyncRun(models.Model):
    class Mode(models.TextChoices):
        FULL = "full", "Full reconcile"
        INCREMENTAL = "incremental", "Incremental"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another sync was running)"

    connection = models.ForeignKey(HaloConnection, on_delete=models.CASCADE, related_name="runs")
    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="halo_sync_runs")
    mode = models.CharField(max_length=12, choices=Mode.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, blank=True, help_text="beat, admin, command, webhook")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: When the data this run reconciles started being read: its own start, or the start of the failed
    #: run it resumes. A full run marks rows not seen since then inactive or void.
    generation_started_at = models.DateTimeField(default=timezone.now)
    pages = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    #: Where a failed run stopped (``{"kind": "invoices", "page": 3}``): the next run starts there.
    cursor = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "HaloPSA sync run"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class WebhookDelivery(models.Model):
    """One webhook POST from HaloPSA: accepted (queued) or refused, and what it named."""

    connection = models.ForeignKey(HaloConnection, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    accepted = models.BooleanField(default=False)
    reason = models.CharField(max_length=60, blank=True)
    object_kind = models.CharField(max_length=20, blank=True)
    object_id = models.IntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = "HaloPSA webhook delivery"
        verbose_name_plural = "HaloPSA webhook deliveries"
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.object_kind} {self.object_id or ''}"
