"""Connect a portal to Stripe and test the connection: say exactly what is wrong with the keys."""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from django.db import transaction
from django.utils import timezone

from portal.models import Portal

from .audit import payment_audit
from .models import StripeAccount
from .stripe_api import stripe_client


@dataclass(frozen=True)
class TestResult:
    ok: bool
    problems: list[str]

    @property
    def message(self) -> str:
        return "The Stripe keys work." if self.ok else " ".join(self.problems)


def _key_problems(account: StripeAccount) -> list[str]:
    """Shape checks that need no network: which key is missing, mistyped or of the wrong mode."""
    problems = []
    secret, publishable = account.secret_key.strip(), account.publishable_key.strip()
    if not secret:
        problems.append("The secret key is missing.")
    elif not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        problems.append("The secret key is not a Stripe secret key (it starts with sk_test_ or sk_live_).")
    if not publishable.startswith(("pk_test_", "pk_live_")):
        problems.append("The publishable key is not a Stripe publishable key (pk_test_ or pk_live_).")
    if not account.webhook_secret:
        problems.append("The webhook signing secret is missing: payments would never be confirmed.")
    elif not account.webhook_secret.startswith("whsec_"):
        problems.append("The webhook signing secret should start with whsec_.")
    secret_live = "_live_" in secret[:8]
    publishable_live = publishable.startswith("pk_live_")
    if account.live_mode and secret and not secret_live:
        problems.append("This is a live portal but the secret key is a test key (sk_test_).")
    if account.live_mode and publishable and not publishable_live:
        problems.append("This is a live portal but the publishable key is a test key (pk_test_).")
    if secret and publishable and secret_live != publishable_live and not problems:
        problems.append("The secret and publishable keys are of different modes (one test, one live).")
    return problems


def stripe_connection_test(*, account: StripeAccount, user=None) -> TestResult:
    problems = _key_problems(account)
    if account.secret_key.startswith(("sk_", "rk_")):
        try:
            balance = stripe_client(account=account).v1.balance.retrieve()
            if account.live_mode and not getattr(balance, "livemode", False):
                problems.append("Stripe says the secret key is a test-mode key, but this is a live portal.")
        except stripe.AuthenticationError:
            problems.append(
                "Stripe refused the secret key (bad key: revoked, mistyped or of another account)."
            )
        except stripe.PermissionError:
            problems.append("The restricted key may not read the balance; give it read access to Balance.")
        except stripe.StripeError as exc:
            problems.append(f"Stripe could not be reached or refused the call ({type(exc).__name__}).")
    result = TestResult(ok=not problems, problems=problems)
    account.last_test_at = timezone.now()
    account.last_test_ok = result.ok
    account.last_test_message = result.message
    account.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    payment_audit(portal=account.portal, kind="connection_test", user=user, detail={"ok": result.ok})
    return result


@transaction.atomic
def stripe_account_connect(
    *,
    portal: Portal,
    secret_key: str,
    publishable_key: str,
    webhook_secret: str,
    allow_partial: bool = False,
    allow_saved_cards: bool = False,
    live_mode: bool | None = None,
    user=None,
) -> StripeAccount:
    """Create or update the portal's Stripe account; keys are stored encrypted."""
    account = StripeAccount.objects.select_for_update().filter(portal=portal).first()
    if account is None:
        account = StripeAccount(portal=portal)
    account.secret_key = secret_key.strip()
    account.publishable_key = publishable_key.strip()
    account.webhook_secret = webhook_secret.strip()
    account.allow_partial = allow_partial
    account.allow_saved_cards = allow_saved_cards
    if live_mode is not None:
        account.live_mode = live_mode
    account.full_clean()
    account.save()
    payment_audit(portal=portal, kind="keys_changed", user=user, detail={"by": "connect"})
    return account
