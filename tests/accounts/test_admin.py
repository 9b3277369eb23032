"""Admin for users and sign-in records, scoped per portal."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone

from accounts.models import AuditEvent, EmailVerification, Identity, LoginCode, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
    )


@pytest.fixture
def staff(client, portal):
    user = UserFactory(portal=portal, email="staff@acme.example", is_staff=True)
    _grant(
        user,
        "view_user",
        "change_user",
        "add_user",
        "view_identity",
        "change_identity",
        "view_emailverification",
        "view_logincode",
        "view_auditevent",
    )
    client.force_login(user)
    return user


@pytest.fixture
def superuser(client):
    user = User.objects.create_superuser("root@example.com", "pw-for-tests-only-123")
    return user


@pytest.fixture
def foreign_user(other_portal):
    return UserFactory(portal=other_portal, email="someone@globex.example")


@pytest.fixture
def identity(portal, user):
    return Identity.objects.create(
        portal=portal,
        issuer="https://acme.halopsa.example/auth",
        sub="halo-1",
        email=user.email,
        user=user,
        verified_at=timezone.now(),
        last_login_at=timezone.now(),
    )


def test_staff_sees_only_their_portals_users(client, staff, user, foreign_user, superuser):
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    shown = {u.email for u in response.context["cl"].result_list}
    assert shown == {"staff@acme.example", "alice@example.com"}
    assert client.get(f"/admin/accounts/user/{foreign_user.pk}/change/").status_code == 404
    assert client.get(f"/admin/accounts/user/{foreign_user.pk}/password/").status_code == 404
    assert client.get(f"/admin/accounts/user/{superuser.pk}/change/").status_code == 404


def test_staff_cannot_reach_a_superuser_even_one_with_their_portal(client, staff, portal):
    boss = User.objects.create_superuser("boss@example.com", "pw-for-tests-only-123", portal=portal)
    assert client.get(f"/admin/accounts/user/{boss.pk}/change/").status_code == 404
    assert client.get(f"/admin/accounts/user/{boss.pk}/password/").status_code == 404


def _change_data(user, **overrides):
    data = {
        "portal": user.portal_id or "",
        "email": user.email,
        "name": user.name,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_cannot_grant_superuser_or_permissions(client, staff, user):
    perm = Permission.objects.get(codename="delete_user")
    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        _change_data(user, name="Alice A.", is_superuser="on", user_permissions=[perm.pk]),
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.name == "Alice A."
    assert not user.is_superuser
    assert not user.user_permissions.exists()
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page


def test_staff_cannot_move_a_user_to_another_portal(client, staff, user, other_portal):
    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/", _change_data(user, portal=other_portal.pk)
    )
    assert response.status_code == 200  # form error: not a valid choice
    assert b"Select a valid choice" in response.content
    user.refresh_from_db()
    assert user.portal_id == staff.portal_id
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", _change_data(user, portal=""))
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.portal_id == staff.portal_id


def test_staff_can_add_a_user_to_their_portal_only(client, staff, portal, other_portal):
    response = client.post(
        "/admin/accounts/user/add/",
        {"portal": portal.pk, "email": "New@Acme.example", "name": "New", "usable_password": "false"},
    )
    assert response.status_code == 302, response.content
    new = User.objects.get(email="new@acme.example")
    assert new.portal == portal and not new.has_usable_password()
    response = client.post(
        "/admin/accounts/user/add/",
        {"portal": portal.pk, "email": "new@acme.example", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert b"already exists on this portal" in response.content


def test_staff_can_change_a_users_password(client, staff, user):
    response = client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {
            "password1": "a-brand-new-Passw0rd!",
            "password2": "a-brand-new-Passw0rd!",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.check_password("a-brand-new-Passw0rd!")


def test_superuser_sees_everyone(client, superuser, user, foreign_user, staff):
    client.force_login(superuser)
    response = client.get("/admin/accounts/user/")
    shown = {u.email for u in response.context["cl"].result_list}
    assert {"alice@example.com", "someone@globex.example", "root@example.com"} <= shown
    assert client.get(f"/admin/accounts/user/{foreign_user.pk}/change/").status_code == 200


# --- read-only records -------------------------------------------------------------------------------


def test_identities_are_read_only_and_scoped(client, staff, identity, other_portal):
    foreign = Identity.objects.create(portal=other_portal, issuer="https://x.example/auth", sub="1")
    response = client.get("/admin/accounts/identity/")
    assert list(response.context["cl"].result_list) == [identity]
    assert client.get(f"/admin/accounts/identity/{foreign.pk}/change/").status_code == 404
    page = client.get(f"/admin/accounts/identity/{identity.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        client.post(f"/admin/accounts/identity/{identity.pk}/change/", {"sub": "forged"}).status_code == 403
    )
    assert client.get("/admin/accounts/identity/add/").status_code == 403
    assert client.get(f"/admin/accounts/identity/{identity.pk}/delete/").status_code == 403


def test_revoke_action_unlinks_and_audits(client, staff, identity):
    response = client.post(
        "/admin/accounts/identity/", {"action": "revoke_identity", "_selected_action": [identity.pk]}
    )
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.user is None and identity.verified_at is None and identity.revoked_at is not None
    event = AuditEvent.objects.get(kind="identity_revoked")
    assert event.user == staff and event.portal == identity.portal


def test_resend_action_mails_a_new_link(client, staff, identity, django_capture_on_commit_callbacks):
    Identity.objects.filter(pk=identity.pk).update(email="alice.new@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/accounts/identity/", {"action": "resend_verification", "_selected_action": [identity.pk]}
        )
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["alice.new@example.com"]]
    # An identity already verified for its current email is skipped.
    mail.outbox.clear()
    Identity.objects.filter(pk=identity.pk).update(email="alice@example.com")
    client.post(
        "/admin/accounts/identity/", {"action": "resend_verification", "_selected_action": [identity.pk]}
    )
    assert mail.outbox == []


def test_actions_need_the_change_permission(client, portal, identity):
    viewer = UserFactory(portal=portal, email="viewer@acme.example", is_staff=True)
    _grant(viewer, "view_identity")
    client.force_login(viewer)
    response = client.get("/admin/accounts/identity/")
    assert response.status_code == 200
    assert b"revoke_identity" not in response.content
    client.post("/admin/accounts/identity/", {"action": "revoke_identity", "_selected_action": [identity.pk]})
    identity.refresh_from_db()
    assert identity.user is not None


def test_verification_admin_never_shows_the_hash(client, staff, identity, portal):
    verification = EmailVerification.objects.create(
        portal=portal,
        identity=identity,
        email=identity.email,
        token_hash="f" * 64,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    for url in (
        "/admin/accounts/emailverification/",
        f"/admin/accounts/emailverification/{verification.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert b"f" * 64 not in response.content
        assert b"token_hash" not in response.content


def test_login_code_admin_never_shows_the_hash(client, staff, portal):
    code = LoginCode.objects.create(portal=portal, email="alice@example.com", code_hash="e" * 64)
    for url in ("/admin/accounts/logincode/", f"/admin/accounts/logincode/{code.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"e" * 64 not in response.content


def test_audit_events_are_scoped_and_read_only(client, staff, portal, other_portal):
    mine = AuditEvent.objects.create(portal=portal, kind="signed_in", email="alice@example.com")
    theirs = AuditEvent.objects.create(portal=other_portal, kind="signed_in", email="bob@example.com")
    response = client.get("/admin/accounts/auditevent/")
    assert list(response.context["cl"].result_list) == [mine]
    assert client.get(f"/admin/accounts/auditevent/{theirs.pk}/change/").status_code == 404
    assert client.get(f"/admin/accounts/auditevent/{mine.pk}/delete/").status_code == 403
