"""People, how they prove who they are, and the audit trail of it.

A ``User`` is an email proven on one portal. Proof comes from a one-time email code
(``LoginCode``) or from the link sent on a first SSO login (``EmailVerification``); an SSO
``Identity`` (issuer, sub) is linked to a user only after that proof.
"""

import datetime

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from portal.emails import normalize_email


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("portal", None)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An email address proven on one portal. Staff users manage only their portal in the admin.

    The email is unique per portal (not globally): the same person on two MSPs' portals is two users.
    Superusers have no portal and may manage all of them.
    """

    portal = models.ForeignKey(
        "portal.Portal",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="users",
        help_text="Staff see and edit only this portal's data. Empty for superusers.",
    )
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin for this portal.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "portal", name="user_unique_email_per_portal"),
            models.UniqueConstraint(
                Lower("email"), condition=Q(portal__isnull=True), name="user_unique_email_without_portal"
            ),
            models.UniqueConstraint(
                Lower("email"), condition=Q(is_superuser=True), name="user_unique_superuser_email"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        conflict = user_email_conflict(
            email=self.email, portal_id=self.portal_id, is_superuser=self.is_superuser, exclude_pk=self.pk
        )
        if conflict:
            raise ValidationError({"email": conflict})

    def save(self, *args, **kwargs):
        """Normalises the email and refuses one that breaks the email rules (see
        ``user_email_conflict``) on every path that saves a user, forms or not. The check and the
        insert are not atomic; the database constraints cover the per-portal rule, and the
        password backend refuses to choose if two rows ever share a superuser's email."""
        self.email = normalize_email(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is None or {"email", "portal", "is_superuser"} & set(update_fields):
            conflict = user_email_conflict(
                email=self.email, portal_id=self.portal_id, is_superuser=self.is_superuser, exclude_pk=self.pk
            )
            if conflict:
                raise ValidationError({"email": conflict})
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


def user_email_conflict(*, email: str, portal_id: int | None, is_superuser: bool, exclude_pk=None) -> str:
    """Why a user with these values may not exist, or "" when it may.

    Emails are unique per portal; a superuser's email is unique across all users, portal or not,
    since superusers sign in on every portal's host: sharing the email with a portal user would
    leave the password sign-in two rows to choose from.
    """
    address = (email or "").strip().lower()
    others = User.objects.alias(email_lower=Lower("email")).filter(email_lower=address)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if is_superuser:
        if others.exists():
            return "Another account already uses this email; a superuser's email must be unique across all portals."
        return ""
    if others.filter(is_superuser=True).exists():
        return "This email belongs to a superuser; it cannot also be a portal user's email."
    if others.filter(portal_id=portal_id).exists():
        return "A user with this email already exists on this portal."
    return ""


class OutboxMixin(models.Model):
    """Mail that must go out exactly once, even when the broker is down at queue time.

    The row is the source of truth: ``sent_at`` is null until the mail has left. The Celery task
    sends under a row lock and is a no-op for a sent row; a beat task re-queues unsent rows.
    """

    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    last_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class LoginCode(OutboxMixin):
    """A six-digit one-time code mailed to a contact's address (the non-SSO login).

    Only an HMAC of the code is stored. Valid 15 minutes from sending, single use, at most five
    wrong tries. The code itself is made when the mail is sent, so nothing secret waits in the DB.
    """

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="login_codes")
    email = models.EmailField()
    code_hash = models.CharField(max_length=128, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    superseded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["portal", "email", "-created_at"])]

    def __str__(self) -> str:
        return f"code for {self.email}"


class LoginCodeFailureDay(OutboxMixin):
    """Wrong sign-in codes for one email on one portal on one UTC day: the daily failure budget.

    Each code dies after a few wrong tries, but new codes can be asked for all day; without a
    budget across codes, rotating addresses could try thousands of guesses a day per email. Once
    ``failures`` reaches ``LOGIN_CODE_DAILY_FAILURE_BUDGET``, code sign-in for the email pauses until
    the day ends (``paused_at``), and the row becomes an outbox row: a mail tells the contact that
    someone is trying codes. Unknown emails are counted and paused alike (the answers must not tell
    them apart); they just get no mail (``skipped_at``).
    """

    portal = models.ForeignKey(
        "portal.Portal", on_delete=models.CASCADE, related_name="login_code_failure_days"
    )
    email = models.EmailField()
    day = models.DateField()
    failures = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True, help_text="No alert mail: not a contact.")

    class Meta:
        ordering = ["-day", "email"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "email", "day"], name="login_code_failure_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.failures} wrong codes for {self.email} on {self.day}"

    @property
    def pause_ends(self) -> datetime.datetime:
        """Midnight UTC after the row's day: when code sign-in for that email resumes."""
        return datetime.datetime.combine(
            self.day + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
        )


class Identity(models.Model):
    """A person as an SSO provider knows them: (portal, issuer, sub), never the email.

    The same email from another issuer or another portal is another identity. It is linked to a
    user only once the person has proven they own the email (``verified_at``).
    """

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="identities")
    sso_config = models.ForeignKey(
        "sso.SSOConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="identities"
    )
    issuer = models.CharField(max_length=300)
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="identities"
    )
    email = models.EmailField(blank=True, help_text="The email the provider reported last.")
    name = models.CharField(max_length=200, blank=True)
    first_login_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    denied_email = models.EmailField(
        blank=True,
        help_text="The owner of this email pressed \"This wasn't me\" on this identity's link: its sign-ins "
        "reporting this email are refused until staff resend a link.",
    )

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["-last_login_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["portal", "issuer", "sub"], name="identity_unique_per_portal_issuer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email or self.sub} @ {self.issuer}"


class EmailVerification(OutboxMixin):
    """The proof asked of a first SSO login: a link mailed to the email the provider reported.

    The token (at least 128 bits) is made when the mail is sent and only its SHA-256 is stored;
    it is single use and expires (24 hours by default).
    """

    portal = models.ForeignKey("portal.Portal", on_delete=models.CASCADE, related_name="email_verifications")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="verifications")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    next_url = models.CharField(max_length=2000, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    superseded = models.BooleanField(default=False)
    requested_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"verification of {self.email}"


class AuditEvent(models.Model):
    """One row per security event (sign-in, code failure, verification, revocation...)."""

    portal = models.ForeignKey(
        "portal.Portal", on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=50)
    email = models.EmailField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.email}"
