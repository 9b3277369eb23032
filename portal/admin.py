"""Django admin for portals and their customer data, scoped per portal (see ``admin_scoping``).

A staff user belongs to one portal: they see and edit only its customers, contacts, invoices and
payments, may edit their own portal's branding but not its URL, and cannot add or delete portals.
Superusers (no portal) see and manage everything, with a Portal column and filter to tell rows apart.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Sum
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html

from .admin_scoping import PortalScopedAdmin, PortalScopedTabularInline, admin_portal
from .emails import normalize_email
from .models import Contact, Customer, Invoice, Payment, Portal
from .money import format_money


class SuperuserPortalColumnMixin:
    """Adds the Portal column and filter for superusers only; staff have one portal, it is noise."""

    #: ORM path used for the superuser-only filter, e.g. "customer__portal".
    portal_filter_path: str | None = None

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if admin_portal(request) is None and "portal_name" not in columns and self.portal_filter_path:
            columns.append("portal_name")
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_portal(request) is None and self.portal_filter_path:
            filters.insert(0, (self.portal_filter_path, admin.RelatedOnlyFieldListFilter))
        return filters

    @admin.display(description="portal")
    def portal_name(self, obj):
        portal = obj
        for part in self.portal_filter_path.split("__"):
            portal = getattr(portal, part)
        return portal.name


@admin.register(Portal)
class PortalAdmin(PortalScopedAdmin):
    portal_field = "pk"
    ordering = ["name"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "url", "host", "sso_only", "customer_count", "created_at"]
    list_filter = ["sso_only"]
    search_fields = ["name", "host", "url"]
    readonly_fields = ["host", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "url", "host", "sso_only", "invoice_access"]}),
        (
            "Branding",
            {
                "fields": ["primary_colour", "logo_url", "support_email"],
                "description": "Shown on every page, sign-in page and email of this portal.",
            },
        ),
        ("History", {"fields": ["created_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_customer_count=Count("customers"))

    @admin.display(description="customers", ordering="_customer_count")
    def customer_count(self, obj):
        return obj._customer_count

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if admin_portal(request) is not None:
            # The URL is the tenant's identity: changing it moves every customer to another host
            # and breaks the redirect URLs registered in HaloPSA. Operators (superusers) do that.
            fields.append("url")
        return fields

    def has_add_permission(self, request):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class ContactInlineFormSet(BaseInlineFormSet):
    def clean(self):
        """Two new rows with the same email (any case) would pass row-by-row checks, then fail in the DB."""
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            email = normalize_email(form.cleaned_data.get("email"))
            if not email:
                continue
            if email in seen:
                raise ValidationError(f"{email} is listed twice.")
            seen.add(email)


class SyncedParentInlineMixin:
    """Under a row synced from HaloPSA the inline rows are HaloPSA's too: shown, not edited here."""

    def _parent_synced(self, obj) -> bool:
        return obj is not None and getattr(obj, "halo_id", None) is not None

    def has_add_permission(self, request, obj=None):
        return not self._parent_synced(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._parent_synced(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._parent_synced(obj) and super().has_delete_permission(request, obj)


class ContactInline(SyncedParentInlineMixin, PortalScopedTabularInline):
    model = Contact
    formset = ContactInlineFormSet
    portal_field = "customer__portal"
    extra = 1
    fields = ["email", "name"]


class SyncedReadOnlyMixin:
    """Rows synced from HaloPSA (``halo_id`` set) are read-only here, with a link to edit them there.

    HaloPSA is their source: an edit here would be overwritten by the next sync, a delete resurrected.
    Rows typed into the admin (no ``halo_id``) stay editable as before.
    """

    #: Path of the record in HaloPSA's agent app, with ``{id}`` for its HaloPSA id.
    halo_path = ""

    @staticmethod
    def _synced(obj) -> bool:
        return obj is not None and getattr(obj, "halo_id", None) is not None

    def _portal_of(self, obj):
        for path in ("portal", "customer__portal", "invoice__customer__portal"):
            target = obj
            for part in path.split("__"):
                target = getattr(target, part, None)
            if target is not None:
                return target
        return None

    @admin.display(description="HaloPSA")
    def view_in_halopsa(self, obj):
        connection = getattr(self._portal_of(obj), "halo_connection", None) if self._synced(obj) else None
        if connection is None or not self.halo_path:
            return "Synced from HaloPSA" if self._synced(obj) else "—"
        url = connection.web_url + self.halo_path.format(id=obj.halo_id)
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">View in HaloPSA</a>', url)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._synced(obj):
            fields = [*dict.fromkeys([*fields, *self._form_field_names(request, obj)])]
        return fields

    def _form_field_names(self, request, obj) -> list[str]:
        """Every field the change form shows, without asking Django's ``get_fields``.

        Why: with no ``fields``/``fieldsets`` declared, Django's ``get_fieldsets`` builds the form to
        find them, and building the form asks ``get_readonly_fields`` again: a RecursionError (a 500
        on every synced contact and payment). Then the model's editable fields are the form's.
        """
        if self.fieldsets or self.fields:
            return [f for _, opts in self.get_fieldsets(request, obj) for f in opts["fields"]]
        names = [
            field.name
            for field in self.opts.get_fields()
            if getattr(field, "editable", False) and not field.auto_created
            and (field.concrete or field.many_to_many) and field.name not in (self.exclude or ())
        ]  # fmt: skip
        return [*names, "view_in_halopsa"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._synced(obj):
            fieldsets = [*fieldsets, ("HaloPSA", {"fields": ["view_in_halopsa"]})]
        return fieldsets

    def has_delete_permission(self, request, obj=None):
        return not self._synced(obj) and super().has_delete_permission(request, obj)


@admin.register(Customer)
class CustomerAdmin(SyncedReadOnlyMixin, SuperuserPortalColumnMixin, PortalScopedAdmin):
    halo_path = "/customers?clientid={id}"
    portal_field = "portal"
    portal_filter_path = "portal"
    ordering = ["name"]
    list_display = ["name", "external_id", "contact_count", "invoice_count", "balance_due"]
    search_fields = ["name", "external_id", "contacts__email", "contacts__name"]
    list_select_related = ["portal"]
    inlines = [ContactInline]
    fields = ["portal", "name", "external_id"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _contact_count=Count("contacts", distinct=True),
                _invoice_count=Count("invoices", distinct=True),
            )
        )

    @admin.display(description="contacts", ordering="_contact_count")
    def contact_count(self, obj):
        return obj._contact_count

    @admin.display(description="invoices", ordering="_invoice_count")
    def invoice_count(self, obj):
        return obj._invoice_count

    @admin.display(description="balance due")
    def balance_due(self, obj):
        """Per currency, never summed across currencies."""
        rows = (
            Invoice.objects.filter(
                customer=obj, status__in=[Invoice.Status.OPEN, Invoice.Status.OVERDUE], balance__gt=0
            )
            .order_by()
            .values_list("currency")
            .annotate(amount=Sum("balance"))
            .order_by("currency")
        )
        return ", ".join(format_money(amount, currency) for currency, amount in rows) or "—"


@admin.register(Contact)
class ContactAdmin(SyncedReadOnlyMixin, SuperuserPortalColumnMixin, PortalScopedAdmin):
    halo_path = "/customers?userid={id}"
    portal_field = "customer__portal"
    portal_filter_path = "customer__portal"
    list_display = ["email", "name", "customer"]
    list_filter = [("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["email", "name", "customer__name"]
    list_select_related = ["customer__portal"]
    autocomplete_fields = ["customer"]


class PaymentInline(SyncedParentInlineMixin, PortalScopedTabularInline):
    model = Payment
    portal_field = "invoice__customer__portal"
    extra = 0
    fields = ["paid_on", "amount", "method"]


@admin.register(Invoice)
class InvoiceAdmin(SyncedReadOnlyMixin, SuperuserPortalColumnMixin, PortalScopedAdmin):
    halo_path = "/invoices?id={id}"
    portal_field = "customer__portal"
    portal_filter_path = "customer__portal"
    list_display = ["number", "customer", "issued_on", "due_on", "total_display", "balance_display", "status"]
    list_filter = ["status", "currency", ("customer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["number", "customer__name", "customer__external_id"]
    list_select_related = ["customer__portal"]
    date_hierarchy = "issued_on"
    autocomplete_fields = ["customer"]
    inlines = [PaymentInline]
    fieldsets = [
        (None, {"fields": ["customer", "number", "status"]}),
        ("Dates", {"fields": ["issued_on", "due_on"]}),
        (
            "Amounts",
            {
                "fields": ["currency", "total", "balance"],
                "description": "Amounts in the invoice's currency (ISO 4217 code, e.g. USD). The balance is "
                "what the customer still owes: 0 for paid and void invoices. It mirrors the PSA: recording "
                "a payment below does not change it, so update it too.",
            },
        ),
    ]

    @admin.display(description="total", ordering="total")
    def total_display(self, obj):
        return format_money(obj.total, obj.currency)

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, obj.currency)


@admin.register(Payment)
class PaymentAdmin(SyncedReadOnlyMixin, SuperuserPortalColumnMixin, PortalScopedAdmin):
    portal_field = "invoice__customer__portal"
    portal_filter_path = "invoice__customer__portal"
    list_display = ["invoice", "customer", "paid_on", "amount_display", "method"]
    list_filter = ["method"]
    search_fields = ["invoice__number", "invoice__customer__name", "method"]
    list_select_related = ["invoice__customer__portal"]
    date_hierarchy = "paid_on"
    autocomplete_fields = ["invoice"]

    @admin.display(description="customer", ordering="invoice__customer__name")
    def customer(self, obj):
        return obj.invoice.customer.name

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.invoice.currency)
