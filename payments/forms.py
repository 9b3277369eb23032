from decimal import Decimal

from django import forms

from portal.money import MoneyFormField


class PayForm(forms.Form):
    """What the pay page posts: the chosen invoices and, where allowed, a partial amount.

    The amount is a wish the server checks against the balance; the currency is never posted.
    """

    invoice = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    amount = forms.CharField(required=False, max_length=20)

    def __init__(self, *args, invoices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invoice"].choices = [(i.pk, i.number) for i in invoices]


class RefundForm(forms.Form):
    amount = MoneyFormField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="Leave empty to refund everything still refundable.",
    )  # fmt: skip
