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


class _ReadableAnswersClient(stripe.RequestsClient):
    """Stripe's requests client, refusing an answer that is not UTF-8 as a connection error.

    The library decodes every answer as UTF-8 while logging it (before it looks at the log level),
    and its ``UnicodeDecodeError`` is no ``StripeError``: a proxy or gateway in front of Stripe
    answering with a binary or Latin-1 page made every Stripe-backed page a 500. As a connection
    error it gets the same handling as a lost answer (the charge may or may not exist).
    """

    def request(self, method, url, headers, post_data=None):
        content, status, response_headers = super().request(method, url, headers, post_data)
        try:
            if isinstance(content, bytes):
                content.decode("utf-8")
        except UnicodeDecodeError:
            raise stripe.APIConnectionError(
                f"The payment service answered HTTP {status} with a body that is not UTF-8."
            ) from None
        return content, status, response_headers


def stripe_client(
    *, account: StripeAccount | None = None, secret_key: str | None = None
) -> stripe.StripeClient:
    key = secret_key if secret_key is not None else (account.secret_key if account else "")
    return stripe.StripeClient(
        key or "sk_missing",
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=_ReadableAnswersClient(
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
