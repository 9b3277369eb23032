"""Admin scoping of every admin URL, and staff escalation (issue 8, section 9: attacks that held).

A portal's staff user holding EVERY permission (more than the "Portal administrators" group
gives) still sees and reaches only their own portal's rows: every registered model's changelist
hides the other portal's rows, and each such row's change, history and delete URLs are a 404.
A new admin registered without scoping fails ``test_every_admin_is_portal_scoped``.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, EmailVerification, Identity, LoginCode, User
from portal.admin_scoping import PortalScopedAdmin
from sso.models import SSOEvent
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    SSOConfigFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MARK = "zzforeignzz"
#: Admins that are not per portal: only superusers hold their permissions.
GLOBAL_ADMINS = {"auth.Group"}


@pytest.fixture
def foreign_rows(other_portal):
    """One row of each kind on the other portal, every text carrying MARK."""
    customer = CustomerFactory(portal=other_portal, name=f"{MARK} Ltd")
    ContactFactory(customer=customer, email=f"{MARK}@globex.example", name=MARK)
    invoice = InvoiceFactory(customer=customer, number=f"INV-{MARK}")
    PaymentFactory(invoice=invoice)
    UserFactory(portal=other_portal, email=f"{MARK}-user@globex.example", name=MARK)
    identity = Identity.objects.create(
        portal=other_portal, issuer=f"https://{MARK}.example/auth", sub=MARK, email=f"{MARK}@globex.example"
    )
    EmailVerification.objects.create(
        portal=other_portal,
        identity=identity,
        email=f"{MARK}@globex.example",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    LoginCode.objects.create(portal=other_portal, email=f"{MARK}@globex.example")
    AuditEvent.objects.create(portal=other_portal, kind="sign_in", email=f"{MARK}@globex.example")
    config = SSOConfigFactory(portal=other_portal, issuer=f"https://{MARK}.example/auth", description=MARK)
    SSOEvent.objects.create(portal=other_portal, config=config, outcome="failure", message=MARK)


@pytest.fixture
def omnipotent_staff(client, portal):
    """Staff of Acme holding every permission there is (but not superuser)."""
    staff = UserFactory(portal=portal, email="it@acme.example", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())
    client.force_login(staff)
    return staff


def scoped_admins():
    return [(m, a) for m, a in admin.site._registry.items() if isinstance(a, PortalScopedAdmin)]


def url_of(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_admin_is_portal_scoped():
    unscoped = {
        m._meta.label for m, a in admin.site._registry.items() if not isinstance(a, PortalScopedAdmin)
    }

    assert unscoped <= GLOBAL_ADMINS


def test_no_changelist_shows_another_portals_rows(client, omnipotent_staff, foreign_rows):
    for model, _admin in scoped_admins():
        response = client.get(url_of(model, "changelist"))
        assert response.status_code in (200, 403), model
        assert MARK not in response.content.decode(), model._meta.label


def test_every_object_url_of_another_portals_row_is_a_404(client, omnipotent_staff, foreign_rows, portal):
    reached = set()
    for model, model_admin in scoped_admins():
        own = model_admin.portal_field
        for obj in model._default_manager.exclude(**{own: portal.pk}):
            if getattr(obj, "is_superuser", False):
                continue  # superusers are out of staff reach for their own reason (next test)
            for view in ("change", "history", "delete"):
                response = client.get(url_of(model, view, obj.pk))
                # 403 only where staff may not use the view for any row (e.g. deleting portals).
                expected = {404, 403} if view == "delete" else {404}
                assert response.status_code in expected, (model._meta.label, view, response.status_code)
            assert client.post(url_of(model, "delete", obj.pk), {"post": "yes"}).status_code in {403, 404}
            assert model._default_manager.filter(pk=obj.pk).exists()
            reached.add(model._meta.label)
    # The fixture made a foreign row of each kind the portal has so far.
    assert {
        "portal.Portal",
        "portal.Customer",
        "portal.Contact",
        "portal.Invoice",
        "portal.Payment",
        "accounts.User",
        "accounts.Identity",
        "accounts.EmailVerification",
        "accounts.LoginCode",
        "accounts.AuditEvent",
        "sso.SSOConfig",
        "sso.SSOEvent",
    } <= reached


def test_global_admins_are_closed_to_staff_without_their_permissions(client, portal):
    staff = UserFactory(portal=portal, email="it@acme.example", is_staff=True)
    staff.groups.set(Group.objects.filter(name="Portal administrators"))
    client.force_login(staff)

    for label in GLOBAL_ADMINS:
        model = next(m for m in admin.site._registry if m._meta.label == label)
        assert client.get(url_of(model, "changelist")).status_code == 403


# --- staff escalation -----------------------------------------------------------------------------


def test_staff_cannot_make_themselves_superuser_or_give_themselves_permissions(client, omnipotent_staff):
    staff = omnipotent_staff
    staff.user_permissions.clear()
    staff.groups.set(Group.objects.filter(name="Portal administrators"))
    data = {
        "portal": staff.portal_id,
        "email": staff.email,
        "name": "IT",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "user_permissions": list(Permission.objects.values_list("pk", flat=True)),
        "groups": list(Group.objects.values_list("pk", flat=True)),
    }

    client.post(url_of(User, "change", staff.pk), data)

    staff.refresh_from_db()
    assert not staff.is_superuser
    assert not staff.user_permissions.exists()
    assert list(staff.groups.values_list("name", flat=True)) == ["Portal administrators"]


def test_staff_cannot_reach_a_superuser(client, omnipotent_staff, portal):
    root = UserFactory(portal=portal, email="root@acme.example", is_staff=True, is_superuser=True)

    assert client.get(url_of(User, "change", root.pk)).status_code == 404
    assert client.get(f"/admin/accounts/user/{root.pk}/password/").status_code == 404


def test_staff_cannot_create_a_global_user(client, omnipotent_staff):
    client.post(
        url_of(User, "add"),
        {
            "portal": "",
            "email": "global@example.com",
            "name": "G",
            "usable_password": "true",
            "password1": "a-long-password-1234",
            "password2": "a-long-password-1234",
        },
    )

    assert not User.objects.filter(email="global@example.com", portal__isnull=True).exists()
