"""The one place a Stripe client is built: the portal's own key, Stripe's official library,
``STRIPE_API_BASE`` from settings, and HTTP through the guarded outbound door.

A ``StripeClient`` per call (not the global ``stripe.api_key``): each portal has its own account,
and a module-level key would let one tenant's request use another's credentials.
"""

from __future__ import annotations

import stripe
from django.conf import settings

from portal import outbound

from .models import StripeAccount


def stripe_client(
    *, account: StripeAccount | None = None, secret_key: str | None = None
) -> stripe.StripeClient:
    key = secret_key if secret_key is not None else (account.secret_key if account else "")
    return stripe.StripeClient(
        key or "sk_missing",
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(
            session=outbound.guarded_session(), timeout=settings.STRIPE_TIMEOUT
        ),
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def friendly_error(exc: Exception) -> str:
    """A sentence for a person; never the raw response (it may echo request data)."""
    if isinstance(exc, stripe.CardError):
        return exc.user_message or "Your card was declined."
    if isinstance(exc, stripe.AuthenticationError):
        return "The portal's Stripe key was refused. Please tell the portal's administrator."
    if isinstance(exc, stripe.APIConnectionError):
        return "The payment service could not be reached. Nothing was charged; please try again shortly."
    if isinstance(exc, stripe.RateLimitError):
        return "The payment service is busy. Please try again in a minute."
    return "The payment service refused the request. Nothing was charged; please try again."
