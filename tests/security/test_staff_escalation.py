"""Attacks that held: a portal's staff user trying to grow beyond their portal through the admin.

The staff user is made as operators make them (``portal_staff_user_ensure``: staff, in the "Portal
administrators" group). Each forged POST below carries what the form would never offer; the test
reads the database afterwards, so it fails if a read-only field, a scoped queryset or a forced
``save_model`` value is removed.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from portal.models import Portal
from portal.permissions import PORTAL_ADMINS_GROUP, portal_staff_user_ensure
from sso.models import SSOConfig
from tests.factories import SSOConfigFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, portal, other_portal):
    user, _created = portal_staff_user_ensure(
        portal=portal, email="staff@acme.example", password="pw-123456789x"
    )
    client.force_login(user)
    return user


@pytest.fixture
def power_group(db):
    group = Group.objects.create(name="Operators")
    group.permissions.set(Permission.objects.all())
    return group


def form_data(response) -> dict:
    """What the browser would post back for the change form on this page (fields + inline management)."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(getattr(v, "pk", v)) for v in value]
        else:
            data[name] = str(value)
    for formset in response.context.get("inline_admin_formsets", []):
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


def user_change_url(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


def test_staff_cannot_make_themselves_superuser_or_grant_themselves_anything(
    client, staff, other_portal, power_group
):
    page = client.get(user_change_url(staff))
    assert page.status_code == 200
    data = form_data(page)
    data.update(
        is_superuser="on",
        groups=[str(power_group.pk)],
        user_permissions=[str(p.pk) for p in Permission.objects.all()[:50]],
        name="Still me",
    )

    response = client.post(user_change_url(staff), data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    staff.refresh_from_db()
    assert staff.name == "Still me"  # the save went through: only the forged fields were ignored
    assert staff.is_superuser is False
    assert list(staff.groups.values_list("name", flat=True)) == [PORTAL_ADMINS_GROUP]
    assert staff.user_permissions.count() == 0


def test_staff_cannot_move_themselves_to_another_portal(client, staff, other_portal):
    data = form_data(client.get(user_change_url(staff)))
    data["portal"] = str(other_portal.pk)

    response = client.post(user_change_url(staff), data)

    assert response.status_code in (200, 302)
    staff.refresh_from_db()
    assert staff.portal_id != other_portal.pk


def test_staff_cannot_make_themselves_portal_less(client, staff):
    """A user with no portal is global: the way to operator powers if it were allowed."""
    data = form_data(client.get(user_change_url(staff)))
    data["portal"] = ""

    client.post(user_change_url(staff), data)

    staff.refresh_from_db()
    assert staff.portal_id is not None


def test_staff_cannot_create_a_superuser_or_a_user_elsewhere(client, staff, other_portal):
    for portal_value in (str(other_portal.pk), ""):
        client.post(
            reverse("admin:accounts_user_add"),
            {
                "portal": portal_value,
                "email": f"new{portal_value}@example.com",
                "usable_password": "true",
                "password1": "a-long-password-1234",
                "password2": "a-long-password-1234",
                "is_superuser": "on",
                "is_staff": "on",
            },
        )
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.exclude(portal=staff.portal).filter(email__startswith="new").exists()


def test_staff_cannot_add_themselves_to_groups_through_the_group_admin(client, staff, power_group):
    group = Group.objects.get(name=PORTAL_ADMINS_GROUP)
    all_permissions = [str(p.pk) for p in Permission.objects.all()]

    for url, data in (
        (reverse("admin:auth_group_changelist"), None),
        (reverse("admin:auth_group_change", args=[power_group.pk]), None),
        (
            reverse("admin:auth_group_change", args=[group.pk]),
            {"name": group.name, "permissions": all_permissions},
        ),
        (reverse("admin:auth_group_add"), {"name": "Mine", "permissions": all_permissions}),
    ):
        response = client.post(url, data) if data else client.get(url)
        assert response.status_code == 403, url

    assert not Group.objects.filter(name="Mine").exists()
    assert group.permissions.count() < len(all_permissions)
    assert not staff.groups.filter(pk=power_group.pk).exists()


def test_staff_cannot_change_their_portals_url_or_host(client, staff, portal):
    url = reverse("admin:portal_portal_change", args=[portal.pk])
    data = form_data(client.get(url))
    data.update(url="https://globex.localhost", host="globex.localhost", name="Acme (renamed)")

    response = client.post(url, data)

    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.name == "Acme (renamed)"  # branding is theirs to change...
    assert (portal.url, portal.host) == (
        "http://acme.localhost:8000",
        "acme.localhost",
    )  # ...the address is not


def test_staff_cannot_add_or_delete_portals(client, staff, portal):
    assert client.get(reverse("admin:portal_portal_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:portal_portal_add"), {"name": "Mine", "url": "https://mine.example"}
        ).status_code
        == 403
    )
    assert (
        client.post(reverse("admin:portal_portal_delete", args=[portal.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Portal.objects.filter(pk=portal.pk).exists() and not Portal.objects.filter(name="Mine").exists()


def test_staff_cannot_move_an_sso_config_to_another_portal(client, staff, portal, other_portal):
    config = SSOConfigFactory(portal=portal)
    url = reverse("admin:sso_ssoconfig_change", args=[config.pk])
    data = form_data(client.get(url))
    data["portal"] = str(other_portal.pk)

    client.post(url, data)

    config.refresh_from_db()
    assert config.portal_id == portal.pk


def test_staff_cannot_add_an_sso_config_to_another_portal(client, staff, portal, other_portal):
    client.post(
        reverse("admin:sso_ssoconfig_add"),
        {
            "portal": str(other_portal.pk),
            "provider": "halopsa",
            "description": "Sneaky",
            "enabled": "on",
            "issuer": "https://sneaky.halopsa.example/auth",
            "client_id": "sneaky",
            "scope": "openid email profile",
        },
    )
    assert not SSOConfig.objects.filter(portal=other_portal).exists()


def test_staff_cannot_take_over_a_superuser_or_another_portals_staff(client, staff, portal, other_portal):
    root = User.objects.create_superuser("root@example.com", "pw-for-tests-only-123")
    root_with_portal = UserFactory(portal=portal, email="op@acme.example", is_staff=True, is_superuser=True)
    globex_staff = UserFactory(portal=other_portal, email="staff@globex.example", is_staff=True)
    for victim in (root, root_with_portal, globex_staff):
        for url in (
            user_change_url(victim),
            f"/admin/accounts/user/{victim.pk}/password/",
        ):
            assert client.get(url).status_code == 404, (victim.email, url)
            response = client.post(url, {"password1": "pwned-pwned-123", "password2": "pwned-pwned-123"})
            assert response.status_code == 404, (victim.email, url)
        victim.refresh_from_db()
        assert not victim.check_password("pwned-pwned-123")
