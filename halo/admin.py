"""Admin for HaloPSA API connections, their sync runs and webhook deliveries, scoped per portal.

The secret is write-only (an empty field keeps the stored one). "Test API connection" and "Sync now" are
actions; the change page shows the webhook URL and secret to paste into HaloPSA, when the portal last
synced, a banner when the last run failed, and the last deliveries.
"""

import ipaddress

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from portal import outbound
from portal.admin_scoping import PortalScopedAdmin, admin_portal
from portal.validators import halo_tenant_clean

from .client import HaloAPIError
from .connection_test import halo_connection_test
from .models import HaloConnection, SyncRun, WebhookDelivery
from .selectors import sync_last_run, sync_last_success, webhook_deliveries_recent
from .services import (
    TENANT_MAX_LENGTH,
    URL_FIELDS,
    halo_defaults_for_portal,
    halo_webhook_register,
    url_extras_problem,
)
from .tasks import halo_sync


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class HaloConnectionForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored secret.",
    )

    class Meta:
        model = HaloConnection
        fields = ["portal", "api_url", "auth_url", "client_id", "client_secret", "tenant", "scope", "enabled",
                  "sync_interval_minutes"]  # fmt: skip

    def clean_tenant(self):
        """The tenant travels in the token request's query: one word, as HaloPSA names tenants."""
        return halo_tenant_clean(self.cleaned_data.get("tenant"), max_length=TENANT_MAX_LENGTH)

    def clean(self):
        """The outbound rules every call follows: an address the portal would refuse to call (a scheme,
        a port, an internal IP address) is refused here, where the admin can still correct it. A host
        name is not resolved on save (a DNS hiccup must not block editing); what it resolves to is
        checked on every call."""
        cleaned = super().clean()
        for field, what, example in URL_FIELDS:
            if cleaned.get(field):
                if problem := url_extras_problem(cleaned[field], what=what, example=example):
                    self.add_error(field, problem)
                    continue
                try:
                    target = outbound.check_url(cleaned[field], what=what, resolve=False)
                    if _is_ip_literal(target.hostname):
                        outbound.check_url(cleaned[field], what=what)
                except outbound.OutboundError as exc:
                    self.add_error(field, exc.message)
        return cleaned

    def clean_client_secret(self):
        secret = self.cleaned_data.get("client_secret") or ""
        if not secret and self.instance.pk:
            return self.instance.client_secret
        if not secret:
            raise forms.ValidationError("Enter the API application's client secret.")
        return secret


@admin.register(HaloConnection)
class HaloConnectionAdmin(PortalScopedAdmin):
    form = HaloConnectionForm
    list_display = ["portal", "api_url", "enabled", "last_synced", "last_run_status"]
    actions = ["test_connection", "sync_now", "register_webhook"]
    readonly_fields = ["webhook_url", "webhook_username", "webhook_secret_display", "last_synced",
                       "last_run_status", "recent_deliveries"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["portal", "enabled"]}),
        ("HaloPSA API", {"fields": ["api_url", "auth_url", "client_id", "client_secret", "tenant", "scope"]}),
        ("Sync", {"fields": ["sync_interval_minutes", "last_synced", "last_run_status"]}),
        (
            "Webhook",
            {
                "fields": ["webhook_url", "webhook_username", "webhook_secret_display", "recent_deliveries"],
                "description": "In HaloPSA: Configuration > Integrations > Webhooks > New: paste this URL, choose "
                "basic authentication with this username and secret (or a header "
                "“Authorization: Bearer &lt;secret&gt;”), and pick the invoice, client and user events.",
            },
        ),
    ]

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        portal = admin_portal(request)
        if portal is not None:
            initial.update({k: v for k, v in halo_defaults_for_portal(portal=portal).items() if v})
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        connection = self.get_object(request, object_id)
        last = sync_last_run(connection=connection) if connection else None
        if last is not None and last.status == SyncRun.Status.FAILED and request.method == "GET":
            messages.error(
                request, f"The last HaloPSA sync failed ({last.started_at:%Y-%m-%d %H:%M}): {last.error}"
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="webhook secret")
    def webhook_secret_display(self, obj):
        return format_html("<code>{}</code>", obj.webhook_secret) if obj.pk else "—"

    @admin.display(description="last synced")
    def last_synced(self, obj):
        run = sync_last_success(connection=obj) if obj.pk else None
        return run.finished_at if run else "never"

    @admin.display(description="last run")
    def last_run_status(self, obj):
        run = sync_last_run(connection=obj) if obj.pk else None
        if run is None:
            return "—"
        if run.status == SyncRun.Status.FAILED:
            return format_html('<strong style="color:#b91c1c">Failed: {}</strong>', run.error[:200])
        return run.get_status_display()

    @admin.display(description="last deliveries")
    def recent_deliveries(self, obj):
        rows = webhook_deliveries_recent(connection=obj) if obj.pk else []
        if not rows:
            return "none yet"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "", "<li>{} · {} · {} {}</li>",
                ((d.received_at.strftime("%Y-%m-%d %H:%M:%S"), "accepted" if d.accepted else d.reason,
                  d.object_kind, d.object_id or "") for d in rows),
            ),
        )  # fmt: skip

    # The actions call HaloPSA (with the stored secret) or start a sync: change permission, not view.
    @admin.action(description="Test API connection", permissions=["change"])
    def test_connection(self, request, queryset):
        # One budget for the whole action, however many connections are selected: the admin is waiting.
        with outbound.budget(settings.HALO_INTERACTIVE_SECONDS):
            for connection in queryset:
                result = halo_connection_test(connection=connection)
                text = "; ".join(f"{s.name}: {s.message}" for s in result.steps)
                level = messages.SUCCESS if result.ok else messages.ERROR
                self.message_user(
                    request, f"{connection.portal}: {'works' if result.ok else 'failed'}. {text}", level
                )

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for connection in queryset:
            halo_sync.delay(connection.pk, full=False, trigger="admin")
        self.message_user(request, "Sync queued; its run appears under HaloPSA sync runs.", messages.SUCCESS)

    @admin.action(description="Register the webhook in HaloPSA", permissions=["change"])
    def register_webhook(self, request, queryset):
        with outbound.budget(settings.HALO_INTERACTIVE_SECONDS):  # the whole action, as above
            for connection in queryset:
                try:
                    halo_webhook_register(connection=connection)
                except HaloAPIError as exc:
                    self.message_user(request, f"{connection.portal}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request, f"{connection.portal}: webhook registered in HaloPSA.", messages.SUCCESS
                    )


class ReadOnlyAdmin(PortalScopedAdmin):
    """Sync runs and webhook deliveries are the record of what happened: not added, edited or deleted
    by hand (not even by a superuser), so the record can be trusted when something goes wrong."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "portal", "mode", "status", "trigger", "pages", "api_calls", "finished_at",
                    "error_short"]  # fmt: skip
    list_filter = ["status", "mode"]

    @admin.display(description="error or note")
    def error_short(self, obj):
        return obj.error[:120]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    portal_field = "connection__portal"
    list_display = ["received_at", "connection", "accepted", "reason", "object_kind", "object_id", "ip"]
    list_filter = ["accepted"]
