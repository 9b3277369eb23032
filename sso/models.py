"""Per-portal single sign-on configurations and the log of every sign-in attempt."""

from django.db import models
from django.utils import timezone

from portal.fields import EncryptedTextField

DEFAULT_SCOPE = "openid profile email"


class SSOConfig(models.Model):
    """One OpenID Connect client registration at a provider (usually HaloPSA), for one portal."""

    class Provider(models.TextChoices):
        HALOPSA = "halopsa", "HaloPSA"
        OIDC = "oidc", "OpenID Connect"

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="sso_configs")
    key = models.CharField(max_length=40, unique=True, editable=False)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.HALOPSA)
    description = models.CharField(
        max_length=100,
        default="HaloPSA",
        help_text="The sign-in button's label, e.g. “Halo PSA” or “Sign in with Acme Support”.",
    )
    issuer = models.URLField(
        "issuer URL",
        max_length=300,
        help_text="HaloPSA: Configuration > Integrations > HaloPSA API > “Authorisation Server”, e.g. "
        "https://acme.halopsa.com/auth. Must be https and match the provider's discovery document exactly.",
    )
    client_id = models.CharField(
        "client ID",
        max_length=255,
        help_text="HaloPSA: Configuration > Integrations > HaloPSA API > View Applications > your application "
        "> Client ID. Use the “Authorisation Code (Native application)” method.",
    )
    # Encrypted at rest (FIELD_ENCRYPTION_KEY); max_length bounds what staff may enter, not the token.
    client_secret = EncryptedTextField(
        max_length=500,
        blank=True,
        help_text="Only if the HaloPSA application has a client secret. Leave empty for a public (PKCE) client.",
    )
    scope = models.CharField(
        max_length=300, default=DEFAULT_SCOPE, help_text="Space-separated; must contain “openid”."
    )
    tenant = models.CharField(
        "HaloPSA tenant",
        max_length=100,
        blank=True,
        help_text="HaloPSA: Configuration > Integrations > HaloPSA API > “Tenant” (hosted instances). Sent as "
        "tenant= on the authorize and token requests. Leave empty for on-premise installs.",
    )
    logout_redirect_url = models.URLField(
        "logout redirect URL",
        max_length=500,
        blank=True,
        help_text="Where people land after signing out, usually your HaloPSA customer portal. Add it to the "
        "application's post-logout redirect URLs in HaloPSA.",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled configs refuse every sign-in.")
    show_button = models.BooleanField(
        "show button on login page",
        default=True,
        help_text="Off: the config still works through its SSO login URL (e.g. a HaloPSA custom link).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSO config"
        ordering = ["portal", "description"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "issuer"], name="ssoconfig_issuer_once_per_portal")
        ]

    def __str__(self) -> str:
        return f"{self.description} ({self.key})"

    def save(self, *args, **kwargs):
        """Give a new config its key; refuse to change the key of a stored one.

        The key is in URLs registered at HaloPSA (the login redirect URL, custom links): changing
        it would silently break them, and a changed-away key could come back for another config.
        """
        stored_key = getattr(self, "_stored_key", None)
        if stored_key and self.key != stored_key:
            raise ValueError("An SSO config's key never changes; create a new config instead.")
        if not self.key:
            from .keys import new_config_key

            self.key = new_config_key(self.provider)
        super().save(*args, **kwargs)
        self._stored_key = self.key

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_key = instance.__dict__.get("key")
        return instance

    @property
    def callback_url(self) -> str:
        """The login redirect URL to register at the provider."""
        return self.portal.absolute_url(f"/callback?iss={self.key}")

    @property
    def login_url(self) -> str:
        """The SSO login URL, e.g. for a HaloPSA customer-portal custom link."""
        return self.portal.absolute_url(f"/sso/{self.key}/login/")

    @property
    def is_public_client(self) -> bool:
        return not self.client_secret

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret)


class SSOEvent(models.Model):
    """One sign-in attempt's outcome with the precise reason; never tokens or secrets.

    This is how an admin finds out which of the issuer URL, client ID or redirect URL is wrong.
    ``config_key`` outlives a deleted config, so keys are never reused.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Signed in"
        VERIFY = "verify", "Verification email sent"
        FAILURE = "failure", "Failed"
        STARTED = "started", "Redirected to provider"
        LOGOUT = "logout", "Signed out"
        DRY_RUN = "dry_run", "Try sign-in (dry run)"
        TEST = "test", "Connection test"

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="sso_events")
    config = models.ForeignKey(
        SSOConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    config_key = models.CharField(max_length=40, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=60, blank=True, help_text="A stable code, e.g. issuer_mismatch.")
    message = models.TextField(blank=True)
    sub = models.CharField(max_length=255, blank=True)
    email = models.EmailField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "SSO event"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["config", "-created_at"], name="ssoevent_config_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.reason or self.message}"[:100]


class IssuedKey(models.Model):
    """Every config key ever handed out, kept after its config (and even its portal) is deleted.

    An old login redirect URL may still be registered at a provider; if its key came back for a
    new config, that registration would start working for it. Deliberately no foreign keys, so
    no cascade can ever remove a row.
    """

    key = models.CharField(max_length=40, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "issued SSO key"

    def __str__(self) -> str:
        return self.key


class ProviderDocument(models.Model):
    """The last good discovery document or JWKS fetched from a provider URL.

    Logins read these from the cache; this copy in PostgreSQL is what they fall back to when the
    cache is down or was emptied (a Redis restart), so a cache outage neither blocks sign-ins nor
    sends every login to the provider. Written each time a document is fetched and validated. The
    documents are public provider metadata, the same for every portal using that issuer URL.
    """

    class Kind(models.TextChoices):
        DISCOVERY = "discovery", "Discovery document"
        JWKS = "jwks", "JWKS"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    url_hash = models.CharField(max_length=64)
    url = models.TextField()
    document = models.JSONField()
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "url_hash"], name="sso_providerdocument_kind_url")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.url}"
