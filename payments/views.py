"""Pay-now pages and the Stripe webhook. Thin: selectors read, ``checkout``/``webhooks`` decide."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import client_ip

from . import selectors
from .checkout import (
    PaymentRefused,
    card_payment_confirm,
    card_payment_setup,
    card_payment_start,
    parse_amount,
)
from .models import CardPayment, StripeAccount
from .webhooks import WebhookRefused, stripe_webhook_handle

logger = logging.getLogger("payments.views")
MAX_WEBHOOK_BYTES = 512 * 1024


def _account_or_404(request) -> StripeAccount:
    account = selectors.stripe_account_for_portal(portal=request.portal)
    if account is None:
        raise Http404("Card payments are not set up on this portal.")
    return account


def _refused(request, exc: PaymentRefused):
    return render(
        request, "error.html", {"title": "Payment not started", "message": exc.message}, status=exc.status
    )


@login_required
@require_http_methods(["GET", "POST"])
def pay(request):
    """GET: what will be charged for the chosen invoices. POST: start the payment, then the card page."""
    account = _account_or_404(request)
    data = request.POST if request.method == "POST" else request.GET
    invoices = selectors.payable_invoices(
        user=request.user, portal=request.portal, invoice_ids=data.getlist("invoice")
    )
    total = sum(i.balance for i in invoices)
    context = {
        "invoices": invoices,
        "total": total,
        "currency": invoices[0].currency,
        "allow_partial": account.allow_partial and len(invoices) == 1,
    }
    if request.method == "GET":
        return render(request, "payments/pay.html", context)
    try:
        amount = parse_amount(request.POST.get("amount")) if context["allow_partial"] else None
        payment = card_payment_start(
            user=request.user, portal=request.portal, account=account, invoices=invoices, amount=amount
        )
    except PaymentRefused as exc:
        if exc.status == 400:
            return render(request, "payments/pay.html", {**context, "error": exc.message}, status=400)
        return _refused(request, exc)
    return redirect("payments:card", public_id=payment.public_id)


@login_required
@require_GET
def card(request, public_id):
    account = _account_or_404(request)
    payment = selectors.card_payment_for_user(user=request.user, portal=request.portal, public_id=public_id)
    if payment.status != CardPayment.Status.CREATED:
        return redirect("payments:result", public_id=payment.public_id)
    context = {
        "payment": payment,
        "allocations": payment.allocations.select_related("invoice").order_by("invoice__due_on"),
        # Only the publishable key ever reaches a page.
        "publishable_key": account.publishable_key,
        "stripe_js_url": settings.STRIPE_JS_URL,
    }
    return render(request, "payments/card.html", context)


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@login_required
@require_POST
def setup(request, public_id):
    """The SetupIntent client secret for Elements (JSON; CSRF-protected like every POST)."""
    account = _account_or_404(request)
    payment = selectors.card_payment_for_user(user=request.user, portal=request.portal, public_id=public_id)
    try:
        client_secret = card_payment_setup(card_payment=payment, account=account)
    except PaymentRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse({"client_secret": client_secret})


@login_required
@require_POST
def confirm(request, public_id):
    """Create and confirm the PaymentIntent; JSON: the status, a client secret for 3-D Secure, the result page."""
    account = _account_or_404(request)
    payment = selectors.card_payment_for_user(user=request.user, portal=request.portal, public_id=public_id)
    setup_intent_id = str(_json_body(request).get("setup_intent") or "")[:255]
    try:
        outcome = card_payment_confirm(card_payment=payment, account=account, setup_intent_id=setup_intent_id)
    except PaymentRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse(
        {
            "status": outcome.status,
            "client_secret": outcome.client_secret,
            "message": outcome.message,
            "result_url": reverse("payments:result", kwargs={"public_id": payment.public_id}),
        }
    )


@login_required
@require_GET
def result(request, public_id):
    """What we know: paid only once Stripe's webhook (or the reconcile task) said so; else processing."""
    payment = selectors.card_payment_for_user(user=request.user, portal=request.portal, public_id=public_id)
    context = {"payment": payment, "allocations": payment.allocations.select_related("invoice")}
    return render(request, "payments/result.html", context)


@csrf_exempt  # Stripe cannot send a CSRF token; the signature authenticates the request instead.
@require_POST
def webhook(request, key):
    account = StripeAccount.objects.filter(webhook_key=key).select_related("portal").first()
    if account is None or (request.portal is not None and account.portal_id != request.portal.pk):
        raise Http404("No such webhook.")
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return HttpResponseBadRequest("too large")
    try:
        outcome = stripe_webhook_handle(
            account=account,
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
            ip=client_ip(request),
        )
    except WebhookRefused:
        return HttpResponseBadRequest("invalid signature")
    logger.info("stripe webhook", extra={"portal": account.portal_id, "outcome": outcome})
    return HttpResponse("ok")
