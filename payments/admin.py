"""Admin for payments, scoped per portal: Stripe keys (write-only), payments, refunds, audit, and the
HaloPSA write-back of each payment and refund (its state, and "Retry write-back" for failed ones)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.audit import client_ip
from portal import outbound
from portal.admin_scoping import PortalScopedAdmin, PortalScopedTabularInline

from .audit import payment_audit
from .connection import stripe_connection_test
from .forms import RefundForm
from .models import CardPayment, CardPaymentInvoice, CardRefund, HaloWriteBack, PaymentAudit, StripeAccount
from .refunds import RefundRefused, card_refund_create, refundable
from .writeback import writeback_retry, writeback_summary

SECRET_FIELDS = ("secret_key", "webhook_secret")


class StripeAccountForm(forms.ModelForm):
    """Secrets are write-only: the form never shows them; an empty box keeps the stored value."""

    secret_key = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text=StripeAccount._meta.get_field("secret_key").help_text + " Leave empty to keep the stored key."
    )  # fmt: skip
    webhook_secret = forms.CharField(
        label="Webhook signing secret", required=False, widget=forms.PasswordInput(render_value=False),
        help_text="whsec_… Leave empty to keep the stored secret.",
    )  # fmt: skip

    class Meta:
        model = StripeAccount
        fields = [
            "portal", "publishable_key", "secret_key", "webhook_secret", "live_mode", "currencies",
            "allow_partial", "allow_saved_cards", "autopay_text", "enabled",
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            value = (data.get(name) or "").strip()
            if not value and self.instance.pk:
                data[name] = getattr(StripeAccount.objects.get(pk=self.instance.pk), name)
            else:
                data[name] = value
        return data


@admin.register(StripeAccount)
class StripeAccountAdmin(PortalScopedAdmin):
    form = StripeAccountForm
    list_display = ["portal", "live_mode", "enabled", "allow_partial", "allow_saved_cards", "last_test_ok"]
    readonly_fields = [
        "webhook_url",
        "secret_key_set",
        "webhook_secret_set",
        "last_test_at",
        "last_test_ok",
        "last_test_message",
    ]
    actions = ["test_connection_action"]

    @admin.display(boolean=True, description="secret key stored")
    def secret_key_set(self, obj):
        return bool(obj.secret_key)

    @admin.display(boolean=True, description="webhook secret stored")
    def webhook_secret_set(self, obj):
        return bool(obj.webhook_secret)

    @admin.display(description="webhook URL (add it in Stripe > Developers > Webhooks)")
    def webhook_url(self, obj):
        return obj.webhook_url if obj.pk else "Saved first."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        payment_audit(portal=obj.portal, kind="keys_changed", user=request.user, ip=client_ip(request))

    @admin.action(description="Test Stripe connection", permissions=["change"])
    def test_connection_action(self, request, queryset):
        # One budget for the whole action, however many accounts are selected: the admin is waiting.
        with outbound.budget(settings.PAYMENTS_INTERACTIVE_SECONDS):
            for account in queryset.select_related("portal")[:20]:
                result = stripe_connection_test(account=account, user=request.user)
                self.message_user(
                    request,
                    f"{account.portal}: {result.message}",
                    messages.SUCCESS if result.ok else messages.ERROR,
                )


class CardPaymentInvoiceInline(PortalScopedTabularInline):
    model = CardPaymentInvoice
    portal_field = "card_payment__portal"
    fields = ["invoice", "amount", "payment"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CardRefundInline(PortalScopedTabularInline):
    model = CardRefund
    portal_field = "card_payment__portal"
    fields = ["stripe_refund_id", "amount", "status", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


WRITEBACK_FIELDS = [
    "kind",
    "invoice",
    "amount",
    "state",
    "attempts",
    "last_error",
    "halo_payment_id",
    "posted_at",
]


class HaloWriteBackInline(PortalScopedTabularInline):
    model = HaloWriteBack
    portal_field = "portal"
    verbose_name_plural = "HaloPSA write-back (one row per invoice paid or refunded)"
    fields = WRITEBACK_FIELDS
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CardPayment)
class CardPaymentAdmin(PortalScopedAdmin):
    list_display = [
        "created_at",
        "portal",
        "customer",
        "amount",
        "currency",
        "status",
        "card_label",
        "amount_refunded",
        "halo_writeback",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["portal", "customer"]
    search_fields = ["payment_intent_id", "customer__name"]
    inlines = [CardPaymentInvoiceInline, CardRefundInline, HaloWriteBackInline]

    def get_queryset(self, request):
        # The write-back column reads every row's write-backs: one query for the page, not one per row.
        return super().get_queryset(request).prefetch_related("writebacks")

    readonly_fields = [*(f.name for f in CardPayment._meta.fields), "halo_writeback"]

    @admin.display(description="HaloPSA write-back")
    def halo_writeback(self, obj):
        return writeback_summary(card_payment=obj)

    change_form_template = "admin/payments/cardpayment/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<path:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="payments_cardpayment_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request, object_id):
        """Full or partial refund through Stripe; POST only (admin_view adds CSRF); another portal's is 404."""
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            raise Http404("No such card payment.")
        # Refunding moves money: it needs change permission; view permission only shows the payment.
        if not self.has_change_permission(request, payment):
            raise PermissionDenied
        form = RefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                card_refund_create(
                    card_payment=payment,
                    amount=form.cleaned_data["amount"],
                    user=request.user,
                    ip=client_ip(request),
                )
            except RefundRefused as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(request, "Refund made.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:payments_cardpayment_change", args=[payment.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Refund {payment}",
            "payment": payment,
            "refundable": refundable(payment),
            "form": form,
        }
        return TemplateResponse(request, "admin/payments/cardpayment/refund.html", context)


@admin.register(HaloWriteBack)
class HaloWriteBackAdmin(PortalScopedAdmin):
    """Each payment and refund on its way to HaloPSA. Failed rows (after all attempts, or refused by
    HaloPSA) need attention: fix the cause (the connection's scope, the invoice in HaloPSA), then
    "Retry write-back". A retry never posts twice: it first looks for the payment in HaloPSA."""

    list_display = ["created_at", "portal", "card_payment", *WRITEBACK_FIELDS, "adopted"]
    list_select_related = ["portal", "card_payment", "invoice"]
    list_filter = ["state", "kind"]
    search_fields = ["thirdpartyid", "invoice__number"]
    readonly_fields = [f.name for f in HaloWriteBack._meta.fields]
    actions = ["retry_writeback_action"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry write-back (failed rows only)", permissions=["change"])
    def retry_writeback_action(self, request, queryset):
        retried = sum(
            writeback_retry(writeback=row, user=request.user, ip=client_ip(request))
            for row in queryset.filter(state=HaloWriteBack.State.FAILED)[:200]
        )
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"{retried} write-back(s) queued again."
            + (f" {skipped} skipped (only failed rows are retried)." if skipped else ""),
            messages.SUCCESS if retried else messages.WARNING,
        )


@admin.register(PaymentAudit)
class PaymentAuditAdmin(PortalScopedAdmin):
    list_display = ["created_at", "portal", "kind", "user", "ip", "card_payment"]
    list_filter = ["kind"]
    readonly_fields = [f.name for f in PaymentAudit._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
