"""Admin for people and sign-in records, scoped per portal (see ``portal.admin_scoping``).

Staff of a portal manage that portal's users (including password changes) but cannot grant
superuser status, permissions or groups, cannot see or edit superusers, and cannot move a user to
another portal. Identities, verifications, login codes and audit events are read-only records;
identities have two audited actions: resend the verification link and revoke the identity.
Secrets never show: not the code or token hashes, not password hashes beyond Django's summary.
"""

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from portal.admin_scoping import BadLookupsMixin, ConcurrentSaveMixin, PortalScopedAdmin, admin_portal

from .audit import client_ip
from .models import (
    AuditEvent,
    EmailVerification,
    Identity,
    LoginCode,
    LoginCodeFailureDay,
    User,
    user_email_conflict,
)
from .ratelimit import retry_phrase
from .services import identity_revoke
from .verification import email_verification_resend


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form, saying plainly when the back-off (``admin_signin``) refused."""

    def get_invalid_login_error(self):
        wait = getattr(self.request, "admin_signin_wait", 0)
        if wait:
            return ValidationError(
                f"Too many failed sign-ins for this email from your network. Try again {retry_phrase(wait)}.",
                code="throttled",
            )
        return super().get_invalid_login_error()


admin.site.login_form = AdminLoginForm

# Groups are global (superusers only), so not portal scoped; Django registers them with its own
# GroupAdmin. Re-registered to answer odd lookups (``?name__regex=[``, a DataError in PostgreSQL)
# like every other changelist: a redirect to ``?e=1``, not a 500.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ConcurrentSaveMixin, BadLookupsMixin, DjangoGroupAdmin):
    pass


class _UniqueEmailPerPortalMixin:
    """A friendly message for the email rules: unique per portal, a superuser's unique across all."""

    def clean(self):
        cleaned = super().clean()
        email = (cleaned.get("email") or "").strip().lower()
        if email:
            portal = cleaned.get("portal", self.instance.portal)
            is_superuser = cleaned.get("is_superuser", self.instance.is_superuser)
            conflict = user_email_conflict(
                email=email,
                portal_id=portal.pk if portal is not None else None,
                is_superuser=bool(is_superuser),
                exclude_pk=self.instance.pk,
            )
            if conflict:
                self.add_error("email", conflict)
        return cleaned


class PortalUserChangeForm(_UniqueEmailPerPortalMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes = {}


class PortalUserCreationForm(_UniqueEmailPerPortalMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("portal", "email", "name")


#: Fields only superusers may change: they grant power beyond one portal's users.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "groups", "user_permissions")


@admin.register(User)
class PortalUserAdmin(PortalScopedAdmin, DjangoUserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    fieldsets = (
        (None, {"fields": ("portal", "email", "password")}),
        ("Personal info", {"fields": ("name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", *SUPERUSER_ONLY_FIELDS)}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("portal", "email", "name", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("email", "name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active")
    search_fields = ("email", "name")
    ordering = ("email",)
    filter_horizontal = ("groups", "user_permissions")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if admin_portal(request) is not None:
            # A superuser who happens to have a portal is still out of reach: a staff user who could
            # change their password could become them.
            qs = qs.filter(is_superuser=False)
        return qs

    def get_readonly_fields(self, request, obj=None):
        readonly = ["last_login", "date_joined"]
        if admin_portal(request) is not None:
            readonly += SUPERUSER_ONLY_FIELDS
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if admin_portal(request) is not None and "portal" in form.base_fields:
            field = form.base_fields["portal"]
            field.required = True  # staff cannot make a portal-less (global) user
            field.empty_label = None
        return form

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if admin_portal(request) is None:
            columns += ["portal", "is_superuser"]
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_portal(request) is None:
            filters = ["portal", "is_superuser", *filters]
        return filters


class ReadOnlyAdmin(PortalScopedAdmin):
    """Records, not settings: nobody adds, edits or deletes them by hand (actions may still run)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # No obj: the changelist asks whether actions may run; a row's page is view-only.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_portal(request) is None:
            filters.insert(0, "portal")
        return filters


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("email", "name", "issuer", "sub", "user", "verified_at", "last_login_at", "revoked_at")
    list_filter = (("verified_at", admin.EmptyFieldListFilter), "issuer")
    search_fields = ("email", "name", "sub")
    fields = (
        "portal",
        "sso_config",
        "issuer",
        "sub",
        "email",
        "name",
        "user",
        "first_login_at",
        "last_login_at",
        "verified_at",
        "revoked_at",
        "denied_email",
    )
    readonly_fields = fields
    list_select_related = ("user",)
    actions = ("resend_verification", "revoke_identity")

    @admin.action(description="Resend the verification email", permissions=["change"])
    def resend_verification(self, request, queryset):
        sent = skipped = 0
        for identity in queryset:
            outcome = email_verification_resend(
                identity=identity, ip=client_ip(request), enforce_limits=False, by_user=request.user
            )
            if outcome.status == "sent":
                sent += 1
            else:
                skipped += 1
        if sent:
            self.message_user(
                request, f"Sent a new verification link to {sent} identit{'y' if sent == 1 else 'ies'}."
            )
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped}: already verified for their current email, or no email reported.",
                level=messages.WARNING,
            )

    @admin.action(description="Revoke: unlink and require email verification again", permissions=["change"])
    def revoke_identity(self, request, queryset):
        count = 0
        for identity in queryset:
            identity_revoke(identity=identity, by_user=request.user, ip=client_ip(request))
            count += 1
        self.message_user(request, f"Revoked {count} identit{'y' if count == 1 else 'ies'}.")


@admin.register(EmailVerification)
class EmailVerificationAdmin(ReadOnlyAdmin):
    list_display = ("email", "identity", "created_at", "sent_at", "expires_at", "used_at", "superseded")
    list_filter = (
        ("sent_at", admin.EmptyFieldListFilter),
        ("used_at", admin.EmptyFieldListFilter),
        "superseded",
    )
    search_fields = ("email",)
    # Never token_hash.
    fields = (
        "portal",
        "identity",
        "email",
        "next_url",
        "created_at",
        "last_queued_at",
        "send_attempts",
        "sent_at",
        "expires_at",
        "used_at",
        "superseded",
        "requested_ip",
    )
    readonly_fields = fields
    list_select_related = ("identity",)


@admin.register(LoginCode)
class LoginCodeAdmin(ReadOnlyAdmin):
    list_display = ("email", "created_at", "sent_at", "expires_at", "attempts", "used_at", "superseded")
    list_filter = (
        ("sent_at", admin.EmptyFieldListFilter),
        ("used_at", admin.EmptyFieldListFilter),
        "superseded",
    )
    search_fields = ("email",)
    # Never code_hash.
    fields = (
        "portal",
        "email",
        "created_at",
        "last_queued_at",
        "send_attempts",
        "sent_at",
        "expires_at",
        "attempts",
        "used_at",
        "superseded",
    )
    readonly_fields = fields


@admin.register(LoginCodeFailureDay)
class LoginCodeFailureDayAdmin(ReadOnlyAdmin):
    """Who has wrong codes today, and whose code sign-in is paused until midnight UTC."""

    list_display = ("day", "email", "failures", "paused_at", "sent_at", "skipped_at")
    list_filter = (("paused_at", admin.EmptyFieldListFilter),)
    search_fields = ("email",)
    fields = ("portal", "day", "email", "failures", "paused_at", "sent_at", "skipped_at", "send_attempts")
    readonly_fields = fields
    date_hierarchy = "day"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "email", "user", "ip")
    list_filter = ("kind",)
    search_fields = ("email", "kind")
    fields = ("created_at", "portal", "kind", "email", "user", "ip", "detail")
    readonly_fields = fields
    date_hierarchy = "created_at"
