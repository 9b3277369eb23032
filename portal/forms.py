"""Forms of the customer pages. Query-string input is validated here, never trusted by the views."""

from django import forms

from .models import Invoice
from .selectors import DEFAULT_INVOICE_ORDER

SORT_CHOICES = [
    ("-issued", "Newest first"),
    ("issued", "Oldest first"),
    ("-due", "Due date, latest first"),
    ("due", "Due date, soonest first"),
    ("-total", "Total, highest first"),
    ("total", "Total, lowest first"),
    ("-balance", "Balance, highest first"),
    ("balance", "Balance, lowest first"),
    ("number", "Invoice number, A to Z"),
    ("-number", "Invoice number, Z to A"),
]


class InvoiceFilterForm(forms.Form):
    """``?status=`` and ``?sort=`` of the invoice list.

    Bad values are not an error page: a hand-edited or stale link simply falls back to "all
    statuses, newest first" (see ``filters``), which is what the person most likely wanted.
    """

    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "All statuses"), *Invoice.Status.choices],
    )
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        super().__init__(data, *args, **kwargs)
        self.is_valid()  # populates cleaned_data with the valid fields only

    @property
    def status_value(self) -> str:
        return self.cleaned_data.get("status") or ""

    @property
    def sort_value(self) -> str:
        return self.cleaned_data.get("sort") or DEFAULT_INVOICE_ORDER

    def filters(self) -> dict[str, str]:
        """The validated filter values, with defaults for anything missing or invalid."""
        return {"status": self.status_value, "sort": self.sort_value}

    def normalised(self) -> "InvoiceFilterForm":
        """The same form bound to the values actually applied, to render without error messages."""
        return InvoiceFilterForm(self.filters())

    def query_params(self) -> dict[str, str]:
        """The validated, non-default values, for links that must keep the current filter."""
        params = {}
        if self.status_value:
            params["status"] = self.status_value
        if self.sort_value != DEFAULT_INVOICE_ORDER:
            params["sort"] = self.sort_value
        return params
