"""Portal staff: the "Portal administrators" group and ``manage.py portal add-staff``."""

import io
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import User
from portal.permissions import PORTAL_ADMIN_GRANTS, PORTAL_ADMINS_GROUP, portal_admin_group_ensure
from tests.factories import ContactFactory, CustomerFactory, InvoiceFactory, UserFactory

pytestmark = pytest.mark.django_db


def _codenames(group) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def _add_staff(*args: str) -> str:
    out = io.StringIO()
    call_command("portal", "add-staff", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_migrate_creates_the_group_with_the_grants():
    group = Group.objects.get(name=PORTAL_ADMINS_GROUP)
    granted = _codenames(group)
    for model in ("customer", "contact", "invoice", "payment"):
        for action in ("view", "add", "change", "delete"):
            assert f"portal.{action}_{model}" in granted
    assert {"portal.view_portal", "portal.change_portal"} <= granted
    assert not {"portal.add_portal", "portal.delete_portal"} & granted
    assert {
        "sso.view_ssoconfig",
        "sso.add_ssoconfig",
        "sso.change_ssoconfig",
        "sso.delete_ssoconfig",
    } <= granted
    assert "sso.view_ssoevent" in granted
    assert not {"sso.add_ssoevent", "sso.change_ssoevent", "sso.delete_ssoevent"} & granted
    assert {"accounts.view_user", "accounts.change_user"} <= granted
    assert not {"accounts.add_user", "accounts.delete_user"} & granted
    for model in ("identity", "emailverification", "logincode", "auditevent"):
        assert f"accounts.view_{model}" in granted
        assert f"accounts.delete_{model}" not in granted
    assert len(granted) == sum(len(actions) for actions in PORTAL_ADMIN_GRANTS.values())


def test_ensure_is_idempotent_and_removes_extra_grants():
    group = Group.objects.get(name=PORTAL_ADMINS_GROUP)
    group.permissions.add(Permission.objects.get(codename="delete_portal"))
    again = portal_admin_group_ensure()
    assert again.pk == group.pk
    assert "portal.delete_portal" not in _codenames(again)
    assert Group.objects.filter(name=PORTAL_ADMINS_GROUP).count() == 1


def test_ensure_recreates_a_deleted_group():
    Group.objects.filter(name=PORTAL_ADMINS_GROUP).delete()
    group = portal_admin_group_ensure()
    assert "portal.view_invoice" in _codenames(group)


def test_add_staff_creates_a_staff_user_in_the_group(portal):
    out = _add_staff(
        "--host", "acme.localhost", "--email", "Staff@Acme.example", "--password", "a-long-pass-phrase"
    )
    assert "Created staff user staff@acme.example of acme.localhost" in out
    assert "shown once" not in out
    user = User.objects.get(portal=portal, email="staff@acme.example")
    assert user.is_staff and user.is_active and not user.is_superuser
    assert user.check_password("a-long-pass-phrase")
    assert user.groups.filter(name=PORTAL_ADMINS_GROUP).exists()
    assert user.has_perm("portal.view_invoice")
    assert not user.has_perm("portal.add_portal")


def test_add_staff_without_password_prints_a_random_one_once(portal):
    out = _add_staff("--host", "acme.localhost", "--email", "staff@acme.example")
    password = re.search(r"Password \(shown once\): (\S+)", out).group(1)
    assert len(password) >= 16
    assert User.objects.get(email="staff@acme.example").check_password(password)


def test_add_staff_updates_an_existing_user_and_keeps_its_password(portal):
    person = UserFactory(portal=portal, email="carol@example.com")  # e.g. a customer who signed in before
    out = _add_staff("--host", "acme.localhost", "--email", "carol@example.com", "--name", "Carol")
    assert "Updated staff user carol@example.com" in out
    assert "Password unchanged." in out
    person.refresh_from_db()
    assert person.is_staff and person.name == "Carol"
    assert person.check_password("correct horse battery staple")
    assert person.groups.filter(name=PORTAL_ADMINS_GROUP).exists()


def test_add_staff_never_makes_a_superuser(portal):
    UserFactory(portal=portal, email="root@example.com", is_superuser=True, is_staff=True)
    _add_staff("--host", "acme.localhost", "--email", "root@example.com")
    assert not User.objects.get(portal=portal, email="root@example.com").is_superuser


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "nowhere.localhost", "--email", "s@example.com"], "No portal answers on the host name"),
        (["--host", "acme.localhost", "--email", "not-an-email"], "--email"),
        (["--host", "acme.localhost", "--email", "s@example.com", "--password", "123"], "--password"),
    ],
)
def test_add_staff_errors_are_one_clear_line(portal, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        _add_staff(*args)
    assert not User.objects.filter(email="s@example.com").exists()


def _admin_changelists_with_view_permission(user):
    for model in admin.site._registry:
        opts = model._meta
        if user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            yield model, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def test_staff_user_made_by_the_command_can_use_the_admin_of_their_portal(client, portal, other_portal):
    acme = CustomerFactory(portal=portal, name="Acme Ltd")
    ContactFactory(customer=acme, email="alice@example.com")
    InvoiceFactory(customer=acme, number="INV-ACME-1")
    globex = CustomerFactory(portal=other_portal, name="Globex Corp")
    foreign_invoice = InvoiceFactory(customer=globex, number="INV-GLOBEX-1")
    _add_staff(
        "--host", "acme.localhost", "--email", "staff@acme.example", "--password", "a-long-pass-phrase"
    )

    # A real password sign-in through the admin's login form, on the portal's host.
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "staff@acme.example", "password": "a-long-pass-phrase", "next": "/admin/"},
    )
    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == "/admin/"

    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Customers" in index.content and b"Invoices" in index.content

    staff = User.objects.get(email="staff@acme.example")
    changelists = dict(_admin_changelists_with_view_permission(staff))
    for label in ("portal.customer", "portal.contact", "portal.invoice", "portal.payment", "portal.portal"):
        assert any(m._meta.label_lower == label for m in changelists), label
    for model, url in changelists.items():
        assert client.get(url).status_code == 200, f"{model._meta.label}: {url}"

    invoices = client.get(reverse("admin:portal_invoice_changelist")).content.decode()
    assert "INV-ACME-1" in invoices and "INV-GLOBEX-1" not in invoices
    assert client.get(reverse("admin:portal_customer_add")).status_code == 200
    assert client.get(reverse("admin:portal_invoice_change", args=[foreign_invoice.pk])).status_code == 404
    assert client.get(reverse("admin:portal_portal_add")).status_code == 403


def test_staff_user_cannot_sign_in_to_another_portals_admin(client, portal, other_portal):
    _add_staff(
        "--host", "acme.localhost", "--email", "staff@acme.example", "--password", "a-long-pass-phrase"
    )
    client.defaults["HTTP_HOST"] = "globex.localhost"
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "staff@acme.example", "password": "a-long-pass-phrase", "next": "/admin/"},
    )
    assert response.status_code == 200  # the form again, with an error: no such user on this portal
    assert not response.wsgi_request.user.is_authenticated


def test_add_staff_asks_for_the_password_on_a_terminal(portal, monkeypatch):
    answers = iter(["first-try-pass", "typo-pass-phrase", "a-long-pass-phrase", "a-long-pass-phrase"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    out = _add_staff("--host", "acme.localhost", "--email", "staff@acme.example")
    assert "shown once" not in out
    assert User.objects.get(email="staff@acme.example").check_password("a-long-pass-phrase")


def test_portal_staff_can_revoke_an_identity_but_not_edit_it(client, portal):
    from accounts.models import Identity

    _add_staff("--host", "acme.localhost", "--email", "it@acme.example", "--password", "Tr1cky-enough-pass")
    identity = Identity.objects.create(
        portal=portal, issuer="https://acme.halopsa.com/auth", sub="42", email="alice@example.com"
    )
    client.force_login(User.objects.get(email="it@acme.example"))
    changelist = reverse("admin:accounts_identity_changelist")

    response = client.post(changelist, {"action": "revoke_identity", "_selected_action": [identity.pk]})

    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.revoked_at is not None
    change_page = client.get(reverse("admin:accounts_identity_change", args=[identity.pk]))
    assert b'name="email"' not in change_page.content
