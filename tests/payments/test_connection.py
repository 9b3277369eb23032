"""``payments connect|test`` and the connection test's findings (against localstripe)."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from payments.connection import stripe_connection_test
from payments.models import PaymentAudit, StripeAccount

pytestmark = pytest.mark.django_db


def _connect(capsys, *extra):
    call_command(
        "payments", "connect", "--portal", "acme.localhost", "--secret-key", "sk_test_abc123",
        "--publishable-key", "pk_test_abc123", "--webhook-secret", "whsec_abc123", *extra,
    )  # fmt: skip
    return json.loads(capsys.readouterr().out)


def test_connect_prints_webhook_url_and_stores_keys_encrypted(portal, capsys, stripe_settings):
    out = _connect(capsys, "--allow-partial")
    account = StripeAccount.objects.get(portal=portal)
    assert out["webhook_url"] == f"http://acme.localhost:8000/payments/webhook/{account.webhook_key}/"
    assert out["allow_partial"] is True and out["allow_saved_cards"] is False
    assert "sk_test_abc123" not in json.dumps(out)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_key, webhook_secret FROM payments_stripeaccount WHERE id = %s", [account.pk]
        )
        stored = cursor.fetchone()
    assert "sk_test_abc123" not in stored[0] and "whsec_abc123" not in stored[1]
    assert account.secret_key == "sk_test_abc123"


def test_test_command_passes_against_localstripe(portal, capsys, stripe_settings):
    _connect(capsys)
    call_command("payments", "test", "--portal", "acme.localhost")
    assert "work" in capsys.readouterr().out
    assert PaymentAudit.objects.filter(portal=portal, kind="connection_test").exists()


def test_bad_key_is_named(portal, capsys, stripe_settings):
    _connect(capsys)
    StripeAccount.objects.filter(portal=portal).update(secret_key="")
    account = StripeAccount.objects.get(portal=portal)
    account.secret_key = "pk_live_wrong_kind"
    account.save()
    with pytest.raises(CommandError, match="not a Stripe secret key"):
        call_command("payments", "test", "--portal", "acme.localhost")


def test_key_refused_by_stripe_is_named(portal, stripe_settings, capsys):
    _connect(capsys)
    account = StripeAccount.objects.get(portal=portal)
    # localstripe refuses any key that is not sk_… over the API: send one through a restricted-key shape.
    account.secret_key = "rk_test_refused"
    result = stripe_connection_test(account=account)
    assert not result.ok and "refused the secret key" in result.message


def test_test_key_on_live_portal_is_named(portal, capsys, stripe_settings):
    _connect(capsys)
    StripeAccount.objects.filter(portal=portal).update(live_mode=True)
    with pytest.raises(CommandError, match="live portal but the secret key is a test key"):
        call_command("payments", "test", "--portal", "acme.localhost")


def test_missing_webhook_secret_is_named(portal, capsys, stripe_settings):
    _connect(capsys)
    account = StripeAccount.objects.get(portal=portal)
    account.webhook_secret = ""
    account.save()
    with pytest.raises(CommandError, match="webhook signing secret is missing"):
        call_command("payments", "test", "--portal", "acme.localhost")


def test_unknown_portal_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No portal"):
        call_command("payments", "test", "--portal", "nowhere.localhost")
