"""``{% payments_enabled as pay_enabled %}``: whether the request's portal takes card payments,
so the invoice pages show Pay buttons without the portal app importing payments' internals."""

from django import template

from payments.selectors import stripe_account_for_portal

register = template.Library()


@register.simple_tag(takes_context=True)
def payments_enabled(context) -> bool:
    request = context.get("request")
    return stripe_account_for_portal(portal=getattr(request, "portal", None)) is not None


@register.simple_tag(takes_context=True)
def payments_wallet_enabled(context) -> bool:
    request = context.get("request")
    account = stripe_account_for_portal(portal=getattr(request, "portal", None))
    return account is not None and account.allow_saved_cards
