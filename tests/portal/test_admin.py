from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from portal.models import Contact, Customer, Invoice, Payment, Portal
from portal.money import AMOUNT_MESSAGE
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def portal_staff(portal, email="staff@example.com"):
    """A staff user of ``portal`` with every permission on the portal app's models."""
    user = UserFactory(portal=portal, email=email, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="portal"))
    return user


@pytest.fixture
def data(portal, other_portal):
    """One customer with a contact, an invoice and a payment on each portal."""
    rows = {}
    for key, p in (("a", portal), ("b", other_portal)):
        customer = CustomerFactory(portal=p, name=f"Customer {key.upper()}")
        contact = ContactFactory(customer=customer, email=f"contact-{key}@example.com")
        invoice = InvoiceFactory(customer=customer, number=f"INV-{key.upper()}", total=Decimal("1234.50"))
        payment = PaymentFactory(invoice=invoice, amount=Decimal("34.50"))
        rows[key] = {
            "portal": p,
            "customer": customer,
            "contact": contact,
            "invoice": invoice,
            "payment": payment,
        }
    return rows


@pytest.fixture
def staff_client(client, portal):
    client.force_login(portal_staff(portal))
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(portal=None, email="root@example.com", is_staff=True, is_superuser=True))
    return client


def url(name, *args):
    return reverse(f"admin:portal_{name}", args=args)


MODELS = ["customer", "contact", "invoice", "payment"]


@pytest.mark.parametrize("model", MODELS)
def test_staff_changelists_show_only_their_portal(staff_client, data, model):
    response = staff_client.get(url(f"{model}_changelist"))
    assert response.status_code == 200
    shown = set(response.context["cl"].result_list)
    assert shown == {data["a"][model]}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_staff_get_404_for_other_portals_rows(staff_client, data, model, view):
    foreign = data["b"][model]
    response = staff_client.get(url(f"{model}_{view}", foreign.pk))
    assert response.status_code == 404
    own = data["a"][model]
    assert staff_client.get(url(f"{model}_{view}", own.pk)).status_code == 200


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "-1"])
def test_malformed_admin_ids_are_404(staff_client, data, object_id):
    assert staff_client.get(url("invoice_change", object_id)).status_code == 404


def test_staff_cannot_delete_another_portals_row_by_post(staff_client, data):
    foreign = data["b"]["customer"]
    response = staff_client.post(url("customer_delete", foreign.pk), {"post": "yes"})
    assert response.status_code == 404
    assert Customer.objects.filter(pk=foreign.pk).exists()


def test_bulk_delete_action_is_scoped(staff_client, data):
    response = staff_client.post(
        url("contact_changelist"),
        {"action": "delete_selected", "_selected_action": [data["b"]["contact"].pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Contact.objects.filter(pk=data["b"]["contact"].pk).exists()


def test_foreign_key_choices_are_scoped(staff_client, data):
    response = staff_client.get(url("invoice_add"))
    choices = set(response.context["adminform"].form.fields["customer"].queryset)
    assert choices == {data["a"]["customer"]}
    response = staff_client.get(url("payment_add"))
    assert set(response.context["adminform"].form.fields["invoice"].queryset) == {data["a"]["invoice"]}
    response = staff_client.get(url("customer_add"))
    assert set(response.context["adminform"].form.fields["portal"].queryset) == {data["a"]["portal"]}


def test_forged_foreign_key_post_is_refused(staff_client, data):
    response = staff_client.post(
        url("invoice_add"),
        {
            "customer": data["b"]["customer"].pk,
            "number": "FORGED-1",
            "status": "open",
            "issued_on": "2026-01-01",
            "due_on": "2026-02-01",
            "currency": "USD",
            "total": "10.00",
            "balance": "10.00",
            "payments-TOTAL_FORMS": "0",
            "payments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert response.context["adminform"].form.errors["customer"]
    assert not Invoice.objects.filter(number="FORGED-1").exists()


def test_invoice_amounts_typed_in_the_admin_are_ascii_digits(staff_client, data):
    """The same rule as every money input: Arabic-Indic 10 (U+0661 U+0660) is a form error, not 10.00."""
    form = {
        "customer": data["a"]["customer"].pk, "number": "TYPED-1", "status": "open", "issued_on": "2026-01-01",
        "due_on": "2026-02-01", "currency": "USD", "total": "\u0661\u0660", "balance": "1e1",
        "payments-TOTAL_FORMS": "0", "payments-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = staff_client.post(url("invoice_add"), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["total"] == [AMOUNT_MESSAGE] and errors["balance"] == [AMOUNT_MESSAGE]
    assert not Invoice.objects.filter(number="TYPED-1").exists()
    assert (
        staff_client.post(url("invoice_add"), {**form, "total": "10", "balance": "10.00"}).status_code == 302
    )
    assert Invoice.objects.get(number="TYPED-1").total == Decimal("10.00")


def test_forged_portal_on_customer_add_stays_in_own_portal(staff_client, data):
    response = staff_client.post(
        url("customer_add"),
        {
            "portal": data["b"]["portal"].pk,
            "name": "Sneaky",
            "external_id": "",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert not Customer.objects.filter(name="Sneaky").exists()


def test_staff_adds_a_customer_with_contacts(staff_client, data, portal):
    response = staff_client.post(
        url("customer_add"),
        {
            "portal": portal.pk,
            "name": "Initech",
            "external_id": "42",
            "contacts-TOTAL_FORMS": "2",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-email": "Peter@Initech.example",
            "contacts-0-name": "Peter",
            "contacts-1-email": "",
            "contacts-1-name": "",
        },
    )
    assert response.status_code == 302
    customer = Customer.objects.get(name="Initech")
    assert customer.portal == portal
    assert list(customer.contacts.values_list("email", flat=True)) == ["peter@initech.example"]


def test_duplicate_contacts_in_one_inline_submission_are_a_form_error(staff_client, portal):
    response = staff_client.post(
        url("customer_add"),
        {
            "portal": portal.pk,
            "name": "Dupes",
            "contacts-TOTAL_FORMS": "2",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-email": "x@example.com",
            "contacts-1-email": "X@example.com",
        },
    )
    assert response.status_code == 200
    assert not Customer.objects.filter(name="Dupes").exists()


def test_duplicate_customer_name_is_a_form_error(staff_client, data, portal):
    response = staff_client.post(
        url("customer_add"),
        {
            "portal": portal.pk,
            "name": "Customer A",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert Customer.objects.filter(portal=portal, name="Customer A").count() == 1


def test_inlines_show_only_the_objects_rows(staff_client, data):
    response = staff_client.get(url("customer_change", data["a"]["customer"].pk))
    formset = response.context["inline_admin_formsets"][0].formset
    assert [f.instance for f in formset.forms if f.instance.pk] == [data["a"]["contact"]]
    response = staff_client.get(url("invoice_change", data["a"]["invoice"].pk))
    formset = response.context["inline_admin_formsets"][0].formset
    assert [f.instance for f in formset.forms if f.instance.pk] == [data["a"]["payment"]]


def test_autocomplete_is_scoped(staff_client, data):
    response = staff_client.get(
        "/admin/autocomplete/",
        {"app_label": "portal", "model_name": "invoice", "field_name": "customer", "term": "Customer"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Customer A"]


def test_related_filter_lists_only_own_customers(staff_client, data):
    response = staff_client.get(url("invoice_changelist"))
    body = response.content.decode()
    assert "Customer A" in body
    assert "Customer B" not in body


def test_money_is_shown_with_currency(staff_client, data):
    body = staff_client.get(url("invoice_changelist")).content.decode()
    assert "$1,234.50" in body
    body = staff_client.get(url("payment_changelist")).content.decode()
    assert "$34.50" in body


# --- Portal admin ----------------------------------------------------------------------------


def test_staff_see_only_their_own_portal(staff_client, data, portal):
    response = staff_client.get(url("portal_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [portal]
    assert staff_client.get(url("portal_change", data["b"]["portal"].pk)).status_code == 404


def test_staff_cannot_add_or_delete_portals(staff_client, portal):
    assert staff_client.get(url("portal_add")).status_code == 403
    assert staff_client.get(url("portal_delete", portal.pk)).status_code == 403
    assert staff_client.post(url("portal_delete", portal.pk), {"post": "yes"}).status_code == 403
    assert Portal.objects.filter(pk=portal.pk).exists()


def test_staff_edit_branding_but_not_the_url(staff_client, portal):
    response = staff_client.post(
        url("portal_change", portal.pk),
        {
            "name": "Acme Billing",
            "url": "http://evil.localhost",
            "sso_only": "on",
            "primary_colour": "#112233",
            "logo_url": "",
            "support_email": "help@acme.example",
            "invoice_access": "halo",
        },
    )
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.name == "Acme Billing"
    assert portal.invoice_access == "halo"  # the "Invoice access" rule is the portal's own setting
    assert portal.primary_colour == "#112233"
    assert portal.url == "http://acme.localhost:8000"  # read-only for staff


def test_superuser_sees_everything_and_portal_column(superuser_client, data):
    response = superuser_client.get(url("invoice_changelist"))
    assert set(response.context["cl"].result_list) == {data["a"]["invoice"], data["b"]["invoice"]}
    assert "portal_name" in response.context["cl"].list_display
    assert superuser_client.get(url("invoice_change", data["b"]["invoice"].pk)).status_code == 200
    assert superuser_client.get(url("portal_add")).status_code == 200


def test_superuser_cannot_give_two_portals_one_host(superuser_client, portal, other_portal):
    response = superuser_client.post(
        url("portal_change", other_portal.pk),
        {"name": other_portal.name, "url": "http://ACME.localhost:9999", "primary_colour": "#1a56db"},
    )
    assert response.status_code == 200
    assert "already answers" in str(response.context["adminform"].form.errors["url"])


def test_staff_list_is_not_shown_a_portal_filter(staff_client, data):
    response = staff_client.get(url("invoice_changelist"))
    assert "portal_name" not in response.context["cl"].list_display


def test_staff_without_portal_is_refused(client, data):
    client.force_login(UserFactory(portal=None, email="orphan@example.com", is_staff=True))
    assert client.get(url("invoice_changelist")).status_code == 403


def test_staff_of_portal_b_on_portal_a_host_is_signed_out(client, data, other_portal):
    client.force_login(portal_staff(other_portal, email="b-staff@example.com"))
    response = client.get(url("invoice_changelist"))
    assert response.status_code == 302  # to the admin login: the session is not valid on this host


def test_payment_invoice_label_and_customer(staff_client, data):
    body = staff_client.get(url("payment_changelist")).content.decode()
    assert "INV-A" in body
    assert "INV-B" not in body
    assert Payment.objects.count() == 2
