"""Changelists answer odd query-string lookups as Django answers a bad filter: ``?e=1``, never a 500.

See ``portal.admin_scoping.BadLookupsMixin``: the date hierarchy's date arithmetic and the queries
evaluated while the changelist is built raise ValueError, OverflowError or a database DataError on
values out of range; those used to escape ``changelist_view`` as a 500.
"""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import models
from django.urls import reverse

from portal.models import Invoice
from portal.permissions import PORTAL_ADMINS_GROUP, portal_admin_group_ensure
from tests.factories import InvoiceFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db

HUGE = "9" * 30


@pytest.fixture
def rows(customer):
    invoice = InvoiceFactory(customer=customer, total=Decimal("120.00"))
    PaymentFactory(invoice=invoice)
    return invoice


@pytest.fixture
def staff_client(client, portal, rows):
    """A portal administrator (the group the ``add_staff`` command grants) of Acme."""
    portal_admin_group_ensure()
    staff = UserFactory(portal=portal, email="staff@example.com", is_staff=True)
    staff.groups.add(Group.objects.get(name=PORTAL_ADMINS_GROUP))
    client.force_login(staff)
    client.raise_request_exception = False
    return client


@pytest.fixture
def superuser_client(client, portal, rows):
    client.force_login(UserFactory(portal=None, email="root@example.com", is_staff=True, is_superuser=True))
    client.raise_request_exception = False
    return client


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def assert_bad_filter_redirect(response, path):
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"{path}?e=1"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        # Date hierarchies (ValueError: year 10000 is out of range; OverflowError past 9999-12-31).
        ("/admin/portal/invoice/", "issued_on__year=9999"),
        ("/admin/portal/invoice/", "issued_on__year=9999&issued_on__month=12"),
        ("/admin/portal/invoice/", "issued_on__year=9999&issued_on__month=12&issued_on__day=31"),
        ("/admin/portal/invoice/", f"issued_on__year={HUGE}"),
        ("/admin/portal/payment/", "paid_on__year=9999&paid_on__month=12&paid_on__day=31"),
        ("/admin/accounts/auditevent/", "created_at__year=9999"),
        # Plain field lookups, failing only when the query is built or run.
        ("/admin/portal/portal/", f"created_at__year={HUGE}"),  # OverflowError
        ("/admin/portal/invoice/", "total=1e999999"),  # DataError: numeric overflow in PostgreSQL
        ("/admin/portal/customer/", "name__regex=["),  # DataError: invalid regular expression
    ],
)
def test_out_of_range_lookups_redirect_to_the_bad_filter_page(staff_client, path, query):
    response = staff_client.get(f"{path}?{query}")
    assert_bad_filter_redirect(response, path)
    assert staff_client.get(response["Location"]).status_code == 200


def test_a_database_error_in_a_lookup_leaves_the_transaction_usable(staff_client, rows):
    """The changelist runs in a savepoint: after PostgreSQL refused the query, the next one works."""
    assert_bad_filter_redirect(
        staff_client.get("/admin/portal/invoice/?total=1e999999"), "/admin/portal/invoice/"
    )
    assert Invoice.objects.filter(pk=rows.pk).exists()


def test_a_bad_lookup_together_with_the_error_flag_is_djangos_error_page(staff_client):
    response = staff_client.get("/admin/portal/invoice/?issued_on__year=9999&e=1")
    assert response.status_code == 200
    assert b"Database error" in response.content


def test_valid_date_hierarchy_and_lookups_still_filter(staff_client, rows):
    year = rows.issued_on.year
    page = staff_client.get(f"/admin/portal/invoice/?issued_on__year={year}")
    assert page.status_code == 200 and rows.number in page.content.decode()
    page = staff_client.get(f"/admin/portal/invoice/?issued_on__year={year - 1}")
    assert page.status_code == 200 and rows.number not in page.content.decode()
    page = staff_client.get("/admin/portal/invoice/?total=120.00")
    assert page.status_code == 200 and rows.number in page.content.decode()


def odd_lookups(model_admin) -> list[str]:
    """Out-of-range values for the model's own fields and its date hierarchy."""
    queries = []
    if model_admin.date_hierarchy:
        dh = model_admin.date_hierarchy
        queries += [f"{dh}__year=9999", f"{dh}__year=9999&{dh}__month=12&{dh}__day=31", f"{dh}__year={HUGE}"]
    for field in model_admin.model._meta.concrete_fields:
        if isinstance(field, models.DateField):  # DateTimeField included
            queries.append(f"{field.name}__year={HUGE}")
        elif isinstance(field, models.DecimalField):
            queries.append(f"{field.name}=1e999999")
        elif isinstance(field, models.CharField) and not field.choices:
            queries.append(f"{field.name}__regex=[")
    return queries


@pytest.mark.parametrize("who", ["staff_client", "superuser_client"])
def test_no_registered_changelist_answers_odd_lookups_with_a_500(request, who):
    """Every admin of the site, the portal-scoped ones and Django's own (groups) alike."""
    client = request.getfixturevalue(who)
    errors = []
    for model, model_admin in admin.site._registry.items():
        path = changelist_url(model)
        for query in odd_lookups(model_admin):
            status = client.get(f"{path}?{query}").status_code
            if status >= 500:
                errors.append((path, query, status))
    assert errors == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/admin/accounts/logincodefailureday/", "day__year=9999"),  # no view permission for staff
        ("/admin/auth/group/", "name__regex=["),  # Django's own GroupAdmin, re-registered
    ],
)
def test_superuser_only_changelists_redirect_out_of_range_lookups(superuser_client, path, query):
    response = superuser_client.get(f"{path}?{query}")
    assert_bad_filter_redirect(response, path)
    assert superuser_client.get(response["Location"]).status_code == 200
