"""How a HaloPSA payment row is recognised as one the portal wrote back (``halo.client.payment_reference``)."""

import pytest

from halo.client import payment_reference


@pytest.mark.parametrize(
    ("row", "reference"),
    [
        ({"thirdpartyid": "pi_1", "intent_id": "pi_1", "amount": 100}, "pi_1"),
        ({"thirdpartyid": "re_1", "intent_id": "pi_1", "amount": -30}, "re_1"),  # a refund: its own id
        ({"thirdpartyid": "", "intent_id": "pi_1", "amount": "100.00"}, "pi_1"),  # a payment by its intent
        (
            {"intent_id": "pi_1", "amount": -30},
            "",
        ),  # a refund carries its payment's intent: never that payment
        ({"intent_id": "pi_1", "amount": "not a number"}, ""),
        ({"amount": 100}, ""),
        ({"thirdpartyid": "x" * 300}, "x" * 255),
    ],
)
def test_payment_reference(row, reference):
    assert payment_reference(row) == reference
