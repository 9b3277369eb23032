"""Admin screens for SSO: configs (with copyable URLs and Test connection) and the event log.

Both are scoped per portal (``PortalScopedAdmin``): a staff user sees, edits and tests only their
portal's configs, and another portal's config is a 404, never a 403. Writes go through
``sso.services`` so that the admin, the ``sso`` command and the services share every rule.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from portal.admin_scoping import PortalScopedAdmin, admin_portal

from .connection_test import sso_connection_test
from .forms import EDITABLE_FIELDS, SSOConfigAdminForm
from .models import SSOConfig, SSOEvent
from .selectors import sso_recent_events
from .services import sso_config_create, sso_config_delete, sso_config_update

#: Connection tests run one after another with bounded timeouts; this bounds the action's total.
MAX_CONFIGS_PER_TEST_ACTION = 10


HALOPSA_APPLICATION = (
    "HaloPSA > Configuration > Integrations > HaloPSA API > View Applications > your application"
)


def _copyable(value: str, element_id: str, what: str, hint: str) -> str:
    return format_html(
        '<div class="sso-copy"><code id="{}" class="sso-copy__value">{}</code> '
        '<button type="button" class="button sso-copy__button" data-sso-copy="{}" aria-label="Copy the {}">'
        "Copy</button> "
        '<span class="sso-copy__status" role="status" aria-live="polite"></span></div>'
        '<div class="help sso-copy__hint">{}</div>',
        element_id,
        value,
        element_id,
        what,
        hint,
    )


@admin.register(SSOConfig)
class SSOConfigAdmin(PortalScopedAdmin):
    form = SSOConfigAdminForm
    exclude = ["client_secret"]  # the form's own write-only field stands in for it
    list_display = [
        "description",
        "issuer",
        "client_id",
        "tenant",
        "enabled",
        "show_button",
        "secret_set",
        "key",
    ]
    list_filter = ["enabled", "show_button", "provider"]
    search_fields = ["description", "issuer", "client_id", "key"]
    list_select_related = ["portal"]
    actions = ["test_connection_action"]
    readonly_fields = ["key", "copy_callback_url", "copy_login_url", "created_at", "updated_at"]

    class Media:
        js = ["sso/copy.js"]
        css = {"all": ["sso/admin.css"]}

    # --- pages ---------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        secret_fields = ["client_secret", "clear_client_secret"] if obj is not None else ["client_secret"]
        return [
            (None, {"fields": ["portal", "provider", "description", "enabled", "show_button"]}),
            (
                "1. Values from HaloPSA",
                {
                    "description": "Found in HaloPSA under Configuration > Integrations > HaloPSA API.",
                    "fields": ["issuer", "client_id", *secret_fields, "tenant", "scope"],
                },
            ),
            (
                "2. Copy these into HaloPSA",
                {
                    "description": "Made from this portal's address and the config's key, which never changes.",
                    "fields": ["copy_callback_url", "copy_login_url", "key"],
                },
            ),
            ("3. Signing out", {"fields": ["logout_redirect_url"]}),
        ] + ([("History", {"classes": ["collapse"], "fields": ["created_at", "updated_at"]})] if obj else [])

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("portal")  # the URLs registered at HaloPSA are this portal's
        return fields

    def get_list_display(self, request):
        fields = list(super().get_list_display(request))
        if admin_portal(request) is None:
            fields.insert(1, "portal")
        return fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_portal(request) is None:
            filters.insert(0, "portal")
        return filters

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.admin_portal = admin_portal(request)
        return form

    @method_decorator(sensitive_post_parameters("client_secret"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["sso_recent_events"] = sso_recent_events(config=obj)
            context["sso_can_test"] = self.has_change_permission(request, obj)
            context["sso_test_connection_url"] = reverse(
                f"{self.admin_site.name}:sso_ssoconfig_test_connection", args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- read-only fields ----------------------------------------------------------------

    @admin.display(description="Login redirect URL")
    def copy_callback_url(self, obj):
        if obj is None or not obj.pk:
            return "Shown once the config is saved (its key is made then)."
        return _copyable(
            obj.callback_url,
            "sso-callback-url",
            "login redirect URL",
            f"Paste it into the application's “Login Redirect URLs” ({HALOPSA_APPLICATION}).",
        )

    @admin.display(description="SSO login URL")
    def copy_login_url(self, obj):
        if obj is None or not obj.pk:
            return "Shown once the config is saved."
        return _copyable(
            obj.login_url,
            "sso-login-url",
            "SSO login URL",
            "Starts a sign-in with this config at once. Add it in HaloPSA under Configuration > Portal "
            "Settings > custom links so customers signed in to HaloPSA open the portal in one click.",
        )

    @admin.display(description="secret", boolean=True)
    def secret_set(self, obj):
        return obj.has_client_secret

    # --- writes through the services -----------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS if name in form.cleaned_data}
        secret = form.secret_change()
        if change:
            current = SSOConfig.objects.select_related("portal").get(pk=obj.pk)
            had_secret = current.has_client_secret
            sso_config_update(config=current, client_secret=secret, actor=request.user, **data)
            if had_secret and secret is None and not current.has_client_secret:
                messages.warning(
                    request,
                    "The stored client secret was removed because the issuer or client ID changed. "
                    "If this application has a client secret, enter it again.",
                )
        else:
            portal = admin_portal(request) or form.cleaned_data["portal"]
            created = sso_config_create(portal=portal, client_secret=secret or "", actor=request.user, **data)
            obj.pk = created.pk
            obj._state.adding = False
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        sso_config_delete(config=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for config in queryset.select_related("portal"):
            sso_config_delete(config=config, actor=request.user)

    # --- Test connection -----------------------------------------------------------------

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="sso_ssoconfig_test_connection",
            )
        ]
        return custom + super().get_urls()  # before the catch-all "<path:object_id>/"

    def test_connection_view(self, request, object_id):
        """POST only (admin_view adds CSRF protection); another portal's config is a 404."""
        config = self.get_object(request, unquote(object_id))
        if config is None:
            raise Http404("No such SSO config.")
        if not self.has_change_permission(request, config):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        report = sso_connection_test(config=config, request=request)
        return self._connection_test_response(request, [(config, report)])

    @admin.action(description="Test connection of the selected SSO configs", permissions=["change"])
    def test_connection_action(self, request, queryset):
        configs = list(queryset.select_related("portal")[: MAX_CONFIGS_PER_TEST_ACTION + 1])
        if len(configs) > MAX_CONFIGS_PER_TEST_ACTION:
            self.message_user(
                request,
                f"Select at most {MAX_CONFIGS_PER_TEST_ACTION} configs to test at a time.",
                messages.ERROR,
            )
            return None
        results = [(config, sso_connection_test(config=config, request=request)) for config in configs]
        return self._connection_test_response(request, results)

    def _connection_test_response(self, request, results):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Connection test",
            "results": results,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/sso/ssoconfig/connection_test.html", context)


@admin.register(SSOEvent)
class SSOEventAdmin(PortalScopedAdmin):
    """The sign-in log, read-only: how an admin finds which value of a config is wrong."""

    list_display = ["when", "outcome", "reason", "config_label", "person", "short_message"]
    list_display_links = ["when"]
    list_filter = [("config", admin.RelatedOnlyFieldListFilter), "outcome", "reason"]
    search_fields = ["email", "sub", "config_key"]
    list_select_related = ["config", "portal"]
    fields = [
        "created_at",
        "portal",
        "config",
        "config_key",
        "outcome",
        "reason",
        "message",
        "sub",
        "email",
        "ip",
        "detail",
    ]
    readonly_fields = fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_portal(request) is None:
            filters.insert(0, "portal")
        return filters

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="config", ordering="config_key")
    def config_label(self, obj):
        return obj.config.description if obj.config else f"(deleted) {obj.config_key}"

    class Media:
        css = {"all": ["sso/admin.css"]}

    @admin.display(description="time", ordering="created_at")
    def when(self, obj):
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="email / sub")
    def person(self, obj):
        return obj.email or obj.sub or "—"

    @admin.display(description="message")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 90 else obj.message[:89] + "…"
