"""Issue 8, item 8 (last bullet): emails are unique per portal and a superuser's across all users, and
the password backend never picks one of two rows sharing an email."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.models import AuditEvent, User
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root@example.com", PASSWORD)


@pytest.fixture
def staff_client(portal):
    staff = UserFactory(portal=portal, email="staff@acme.example", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="accounts", codename__in=["view_user", "change_user"]
        )
    )
    browser = Client(HTTP_HOST="acme.localhost")
    browser.force_login(staff)
    return browser


def test_staff_cannot_rename_a_portal_user_to_a_superusers_email(staff_client, portal, root):
    victim = UserFactory(portal=portal, email="bob@example.com")
    response = staff_client.post(
        f"/admin/accounts/user/{victim.pk}/change/",
        {"portal": portal.pk, "email": "ROOT@example.com", "name": "", "is_active": "on", "is_staff": "on"},
    )
    assert response.status_code == 200
    assert "belongs to a superuser" in response.content.decode()
    victim.refresh_from_db()
    assert victim.email == "bob@example.com"


def test_no_save_path_can_give_a_portal_user_a_superusers_email(portal, root):
    user = UserFactory(portal=portal, email="bob@example.com")
    user.email = "Root@Example.com"
    with pytest.raises(ValidationError):
        user.save()
    with pytest.raises(ValidationError):
        User.objects.create_user("root@example.com", portal=portal)


def test_a_superuser_cannot_take_an_email_a_portal_user_has(portal):
    UserFactory(portal=portal, email="alice@example.com")
    with pytest.raises(ValidationError):
        User.objects.create_superuser("alice@example.com", PASSWORD)


def test_emails_are_unique_per_portal_but_not_across_portals(portal, other_portal):
    UserFactory(portal=portal, email="alice@example.com")
    UserFactory(portal=other_portal, email="alice@example.com")  # another MSP's portal: fine
    with pytest.raises((ValidationError, IntegrityError)), transaction.atomic():
        UserFactory(portal=portal, email="ALICE@example.com")


def test_the_password_backend_never_chooses_between_two_rows(portal, root):
    # A row written behind the rules' back (raw update), sharing the superuser's email.
    twin = UserFactory(portal=portal, email="twin@example.com", is_staff=True)
    User.objects.filter(pk=twin.pk).update(email="root@example.com")
    for password in (PASSWORD, "anything"):
        browser = Client(HTTP_HOST="acme.localhost")
        browser.post("/admin/login/?next=/admin/", {"username": "root@example.com", "password": password})
        assert SESSION_KEY not in browser.session
    event = AuditEvent.objects.filter(kind="admin_signin_ambiguous").first()
    assert event is not None and sorted(event.detail["users"]) == sorted([root.pk, twin.pk])


def test_a_code_sign_in_with_a_superusers_email_is_refused_cleanly(
    client, portal, customer, root, django_capture_on_commit_callbacks
):
    ContactFactory(customer=customer, email="root@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/login/", {"email": "root@example.com"})
    code = next(m for m in mail.outbox if m.to == ["root@example.com"]).body
    response = client.post("/login/code/", {"code": re.search(r"\b(\d{6})\b", code).group(1)})
    assert response.status_code == 403
    assert SESSION_KEY not in client.session
    assert User.objects.filter(email="root@example.com").count() == 1
