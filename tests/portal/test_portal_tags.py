"""Template filters and the row tag of the invoice table, which runs them for every row."""

import datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

from portal.templatetags.portal_tags import date_element
from tests.factories import InvoiceFactory


@pytest.mark.parametrize(
    "day", [datetime.date(2026, 1, 1), datetime.date(2026, 3, 9), datetime.date(1999, 12, 31)]
)
def test_date_element_is_what_the_date_filters_wrote(day):
    django_filters = Template("""<time datetime="{{ d|date:'Y-m-d' }}">{{ d|date:"j M Y" }}</time>""").render(
        Context({"d": day})
    )
    assert date_element(day) == django_filters


def test_an_aware_datetime_is_shown_as_its_local_date(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in January
    with timezone.override("Pacific/Auckland"):
        late = datetime.datetime(2026, 1, 1, 20, 0, tzinfo=datetime.UTC)
        assert date_element(late) == '<time datetime="2026-01-02">2 Jan 2026</time>'


@pytest.mark.parametrize("value", [None, "", "2026-01-01", 3])
def test_anything_but_a_date_renders_nothing(value):
    assert date_element(value) == ""


#: The row as the invoice table's template wrote it cell by cell before ``invoice_row``.
CELL_BY_CELL = Template(
    """{% load portal_tags %}<tr>
{% if selectable %}<td>{% if invoice.balance and invoice.status in "open overdue" %}<input type="checkbox" name="invoice" value="{{ invoice.pk }}" aria-label="Pay {{ invoice.number }}">{% endif %}</td>{% endif %}
<th scope="row"><a href="{% url 'portal:invoice_detail' invoice.pk %}">{{ invoice.number }}</a></th>
<td data-label="Customer">{{ invoice.customer.name }}</td>
<td data-label="Issued">{{ invoice.issued_on|date_element }}</td>
<td data-label="Due">{{ invoice.due_on|date_element }}</td>
<td data-label="Total" class="num">{{ invoice.total|money:invoice.currency }}</td>
<td data-label="Balance" class="num">{{ invoice.balance|money:invoice.currency }}</td>
<td data-label="Status"><span class="badge {{ invoice.status }}">{{ invoice.get_status_display }}</span></td>
</tr>"""
)


@pytest.mark.django_db
@pytest.mark.parametrize("selectable", [True, False])
@pytest.mark.parametrize(
    ("status", "total", "balance"),
    [("open", "120.00", "120.00"), ("overdue", "5.50", "0.00"), ("paid", "9.99", "0"), ("void", "1", "1")],
)
def test_invoice_row_is_the_cell_by_cell_markup_escaped_alike(customer, selectable, status, total, balance):
    customer.name = '<script>alert("x")</script> & Co'
    customer.save(update_fields=["name"])
    invoice = InvoiceFactory(customer=customer, number='INV-"1"<b>', status=status, total=Decimal(total))
    invoice.balance = Decimal(balance)
    context = {"invoice": invoice, "selectable": selectable}
    expected = "".join(line for line in CELL_BY_CELL.render(Context(context)).splitlines())
    row = Template("{% load portal_tags %}{% invoice_row invoice selectable %}").render(Context(context))
    assert row == expected
    assert "<script>" not in row and "&lt;script&gt;" in row
    assert ('name="invoice"' in row) == (selectable and status == "open")
