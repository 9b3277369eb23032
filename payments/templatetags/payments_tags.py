"""``{% payments_enabled as pay_enabled %}``: whether the request's portal takes card payments,
so the invoice pages show Pay buttons without the portal app importing payments' internals.

The account is read once per request (one query, cached on the request) however many tags ask."""

from django import template

from payments.selectors import stripe_account_for_portal

register = template.Library()
_MISSING = object()


def _account(context):
    request = context.get("request")
    if request is None:
        return None
    cached = getattr(request, "_payments_account", _MISSING)
    if cached is _MISSING:
        cached = stripe_account_for_portal(portal=getattr(request, "portal", None))
        request._payments_account = cached
    return cached


@register.simple_tag(takes_context=True)
def payments_enabled(context) -> bool:
    return _account(context) is not None


@register.simple_tag(takes_context=True)
def payments_wallet_enabled(context) -> bool:
    account = _account(context)
    return account is not None and account.allow_saved_cards
