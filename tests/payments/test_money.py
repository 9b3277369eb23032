"""Amounts to Stripe's minor units and back, per currency, and amounts a card cannot pay exactly."""

from decimal import Decimal

import pytest

from payments.models import CardPayment
from payments.money import from_minor, payable_exactly, to_minor
from payments.stripe_api import stripe_client


@pytest.mark.parametrize(
    "amount, currency, minor",
    [
        ("10.00", "USD", 1000),
        ("96.50", "eur", 9650),
        ("1000.00", "JPY", 1000),
        ("10.00", "KWD", 10000),  # thousandths, the last digit 0
        ("12.35", "BHD", 12350),
        ("0.01", "TND", 10),
    ],
)
def test_minor_units_follow_the_currency(amount, currency, minor):
    assert to_minor(Decimal(amount), currency) == minor
    assert from_minor(minor, currency) == Decimal(amount)


def test_a_fraction_the_currency_has_not_is_never_charged_more():
    assert not payable_exactly(Decimal("1000.50"), "JPY")
    assert to_minor(Decimal("1000.50"), "JPY") == 1000
    assert payable_exactly(Decimal("1000.00"), "JPY") and payable_exactly(Decimal("0.01"), "KWD")


@pytest.mark.django_db(transaction=True)
def test_a_balance_a_card_cannot_pay_exactly_is_refused_before_anything_is_charged(shop):
    invoice = shop.invoice("1000.50", currency="JPY")
    response = shop.start([invoice])
    assert response.status_code == 400
    assert "cannot be paid by card exactly" in response.content.decode()
    assert not CardPayment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_three_decimal_currency_is_charged_the_whole_amount(shop):
    invoice = shop.invoice("10.00", currency="KWD")
    payment, outcome = shop.pay([invoice])
    assert outcome["status"] == "processing"
    intent = stripe_client(account=shop.account).v1.payment_intents.retrieve(payment.payment_intent_id)
    assert (intent.amount, intent.currency) == (10000, "kwd")
    shop.wait_settled(payment)
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("0.00")
