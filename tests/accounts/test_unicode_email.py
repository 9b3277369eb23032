"""Internationalised email addresses: the code login accepts what Django's EmailValidator (and SSO) accept."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail

from accounts.models import User
from accounts.services import normalize_email
from tests.accounts.helpers import code_from
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

UNICODE = "anna@bücher.example"
PUNYCODE = "anna@xn--bcher-kva.example"


def test_the_login_form_leaves_validation_to_the_server(client, portal):
    page = client.get("/login/").content.decode()
    assert 'type="text" inputmode="email" name="email"' in page  # no browser rewrite or refusal


@pytest.mark.parametrize("typed", [UNICODE, PUNYCODE, "ANNA@BÜCHER.EXAMPLE"])
def test_an_internationalised_domain_gets_a_code_and_signs_in(client, customer, request_code, typed):
    ContactFactory(customer=customer, email=UNICODE)
    response = request_code(typed)
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    assert len(mail.outbox) == 1
    response = client.post("/login/code/", {"code": code_from(mail.outbox[0])})
    assert response.status_code == 302
    user = User.objects.get(pk=client.session[SESSION_KEY])
    assert user.email == UNICODE  # one spelling, the same the SSO path stores


def test_what_the_validator_refuses_is_a_form_error_not_a_500(client, portal, request_code):
    response = request_code("josé@example.com")  # Django's EmailValidator refuses a non-ASCII local part
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()


def test_both_sign_in_paths_share_one_normal_form():
    assert normalize_email(PUNYCODE) == normalize_email(" Anna@Bücher.Example ") == UNICODE
    assert normalize_email("anna@xn--invalid-.example") == "anna@xn--invalid-.example"


@pytest.mark.parametrize("typed", [UNICODE, PUNYCODE])
def test_a_contact_entered_in_punycode_is_stored_in_unicode_and_gets_a_code(
    client, customer, request_code, typed
):
    contact = ContactFactory(customer=customer, email=PUNYCODE)  # as the admin or a script may enter it
    assert contact.email == UNICODE
    assert request_code(typed).status_code == 302
    assert len(mail.outbox) == 1


def test_stored_punycode_contacts_and_users_take_the_unicode_spelling(customer, portal):
    """The data migrations, run on rows written before (bulk writes bypassed ``save``)."""
    import importlib

    from django.apps import apps

    from portal.models import Contact
    from tests.factories import UserFactory

    moved, clash = ContactFactory(customer=customer), ContactFactory(customer=customer, email=UNICODE)
    Contact.objects.filter(pk=moved.pk).update(email="bob@xn--bcher-kva.example")
    Contact.objects.filter(pk=clash.pk).update(email=PUNYCODE)
    ContactFactory(customer=customer, email=UNICODE)  # the Unicode spelling is taken for this one
    user = UserFactory(portal=portal)
    User.objects.filter(pk=user.pk).update(email="carol@xn--bcher-kva.example")
    for app, name in [
        ("portal", "0006_contact_email_unicode_domain"),
        ("accounts", "0005_user_email_unicode_domain"),
    ]:
        importlib.import_module(f"{app}.migrations.{name}").forwards(apps, None)
    assert Contact.objects.get(pk=moved.pk).email == "bob@bücher.example"
    assert Contact.objects.get(pk=clash.pk).email == PUNYCODE  # left as it is rather than clash
    assert User.objects.get(pk=user.pk).email == "carol@bücher.example"
