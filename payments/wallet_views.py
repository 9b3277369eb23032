"""Saved cards and AutoPay pages. Thin: selectors read, ``cards``/``autopay`` decide."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import client_ip

from . import selectors
from .autopay import autopay_disable, autopay_enable, autopay_text_for
from .cards import saved_card_record, saved_card_remove, saved_card_setup
from .checkout import PaymentRefused
from .views import _account_or_404, _json_body


def _wallet_account(request):
    account = _account_or_404(request)
    if not account.allow_saved_cards:
        raise Http404("This portal does not save cards.")
    return account


@login_required
@require_GET
def wallet(request):
    account = _wallet_account(request)
    rows = selectors.wallet_for_user(user=request.user, portal=request.portal)
    for row in rows:
        row["autopay_text"] = autopay_text_for(account=account, customer=row["customer"])
    context = {
        "rows": rows,
        "publishable_key": account.publishable_key,
        "stripe_js_url": settings.STRIPE_JS_URL,
    }
    return render(request, "payments/wallet.html", context)


@login_required
@require_POST
def card_setup(request, customer_id):
    account = _wallet_account(request)
    customer = selectors.customer_for_user(user=request.user, portal=request.portal, pk=customer_id)
    try:
        return JsonResponse({"client_secret": saved_card_setup(account=account, customer=customer)})
    except PaymentRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)


@login_required
@require_POST
def card_confirm(request, customer_id):
    account = _wallet_account(request)
    customer = selectors.customer_for_user(user=request.user, portal=request.portal, pk=customer_id)
    setup_intent_id = str(_json_body(request).get("setup_intent") or "")[:255]
    if not setup_intent_id.startswith("seti_"):
        return JsonResponse({"error": "No card to save."}, status=400)
    try:
        card = saved_card_record(
            account=account, customer=customer, setup_intent_id=setup_intent_id, user=request.user
        )
    except PaymentRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse({"card": card.label})


@login_required
@require_POST
def card_remove(request, card_id):
    account = _wallet_account(request)
    card = selectors.saved_card_for_user(user=request.user, portal=request.portal, pk=card_id)
    try:
        saved_card_remove(account=account, card=card, user=request.user, ip=client_ip(request))
    except PaymentRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{card.label} removed.")
    return redirect("payments:wallet")


@login_required
@require_POST
def autopay_on(request, customer_id):
    account = _wallet_account(request)
    customer = selectors.customer_for_user(user=request.user, portal=request.portal, pk=customer_id)
    if request.POST.get("consent") != "yes":
        messages.error(request, "Tick the box to authorise AutoPay.")
        return redirect("payments:wallet")
    card = selectors.saved_card_for_user(
        user=request.user, portal=request.portal, pk=request.POST.get("card")
    )
    try:
        autopay_enable(
            account=account, customer=customer, card=card, user=request.user, ip=client_ip(request),
            shown_text=request.POST.get("authorisation_text", ""),
        )  # fmt: skip
    except PaymentRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"AutoPay is on for {customer.name}.")
    return redirect("payments:wallet")


@login_required
@require_POST
def autopay_off(request, customer_id):
    _wallet_account(request)
    customer = selectors.customer_for_user(user=request.user, portal=request.portal, pk=customer_id)
    if autopay_disable(customer=customer, user=request.user, ip=client_ip(request)):
        messages.success(request, f"AutoPay is off for {customer.name}.")
    return redirect("payments:wallet")
