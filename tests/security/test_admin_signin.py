"""Issue 8, item 6: admin password sign-in is throttled per (portal, email, network) with a back-off,
audited, unlockable from the command line, and superusers sign in only on ADMIN_HOSTS."""

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client

from accounts.models import AuditEvent, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(portal):
    return UserFactory(portal=portal, email="staff@acme.example", is_staff=True)


@pytest.fixture
def root(portal):
    return User.objects.create_superuser("root@example.com", PASSWORD)


def sign_in(email: str, password: str, *, host: str = "acme.localhost", ip: str = "203.0.113.7"):
    browser = Client(HTTP_HOST=host, REMOTE_ADDR=ip)
    response = browser.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    return response, SESSION_KEY in browser.session


def test_forty_wrong_passwords_then_the_right_one_is_refused(staff):
    outcomes = [sign_in(staff.email, f"wrong-{i}")[0] for i in range(40)]
    assert all(response.status_code == 200 for response in outcomes)
    response, signed_in = sign_in(staff.email, PASSWORD)
    assert not signed_in
    assert b"Too many failed sign-ins" in response.content
    assert b"Try again in" in response.content
    # Only the free failures (and none of the later guesses) had their password checked.
    failed = AuditEvent.objects.filter(kind="admin_signin_failed", email=staff.email).count()
    assert failed == 5
    assert AuditEvent.objects.filter(kind="admin_signin_throttled", email=staff.email).count() == 36


def test_a_few_mistakes_do_not_lock_anyone_out(staff):
    for i in range(4):
        sign_in(staff.email, f"wrong-{i}")
    assert sign_in(staff.email, PASSWORD)[1]
    # Success forgets the failures: four more mistakes are free again.
    for i in range(4):
        sign_in(staff.email, f"wrong-again-{i}")
    assert sign_in(staff.email, PASSWORD)[1]


def test_the_back_off_doubles(staff, monkeypatch):
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    for i in range(5):
        sign_in(staff.email, f"wrong-{i}")
    assert not sign_in(staff.email, PASSWORD)[1]  # locked for a minute
    now[0] += 61
    assert not sign_in(staff.email, "wrong-again")[1]  # allowed, wrong: now locked for two minutes
    now[0] += 61
    response, signed_in = sign_in(staff.email, PASSWORD)
    assert not signed_in and b"Too many failed sign-ins" in response.content
    now[0] += 61
    assert sign_in(staff.email, PASSWORD)[1]


def test_the_lock_is_per_network_and_per_portal(staff, other_portal):
    globex_staff = UserFactory(portal=other_portal, email=staff.email, is_staff=True)
    for i in range(6):
        sign_in(staff.email, f"wrong-{i}", ip="2001:db8:1:2::10")
    # The same /64 is the same network; a neighbouring /64 and IPv4 are not.
    assert not sign_in(staff.email, PASSWORD, ip="2001:db8:1:2:ffff::1")[1]
    assert sign_in(staff.email, PASSWORD, ip="2001:db8:1:3::10")[1]
    assert sign_in(staff.email, PASSWORD, ip="198.51.100.20")[1]
    # The same email on another portal is another account with its own budget.
    assert sign_in(globex_staff.email, PASSWORD, host="globex.localhost", ip="2001:db8:1:2::10")[1]


def test_unknown_emails_are_throttled_alike(portal):
    for i in range(5):
        sign_in("nobody@acme.example", f"wrong-{i}")
    response, _ = sign_in("nobody@acme.example", "another")
    assert b"Too many failed sign-ins" in response.content


def test_the_owner_lifts_a_lockout_from_the_command_line(staff, capsys):
    for i in range(10):
        sign_in(staff.email, f"wrong-{i}")
    assert not sign_in(staff.email, PASSWORD)[1]
    call_command("admin_unlock", "Staff@Acme.example")
    assert "unlocked" in capsys.readouterr().out
    assert AuditEvent.objects.filter(kind="admin_unlocked", email=staff.email).exists()
    assert sign_in(staff.email, PASSWORD)[1]


def test_admin_unlock_refuses_a_non_email():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("admin_unlock", "not an email")


def test_superusers_sign_in_only_on_admin_hosts(root, settings):
    settings.ALLOWED_HOSTS = ["acme.localhost", "admin.localhost"]
    settings.ADMIN_HOSTS = ["admin.localhost"]
    from tests.factories import PortalFactory

    PortalFactory(name="Operator", url="http://admin.localhost")
    response, signed_in = sign_in(root.email, PASSWORD, host="acme.localhost")
    assert not signed_in
    assert b"Too many" not in response.content  # the ordinary "wrong email or password" answer
    assert AuditEvent.objects.filter(kind="admin_signin_host_refused", user=root).exists()
    assert sign_in(root.email, PASSWORD, host="admin.localhost")[1]


def test_staff_are_not_restricted_by_admin_hosts(staff, settings):
    settings.ADMIN_HOSTS = ["admin.localhost"]
    assert sign_in(staff.email, PASSWORD)[1]


def test_superusers_sign_in_anywhere_without_admin_hosts(root):
    assert sign_in(root.email, PASSWORD)[1]


def test_check_deploy_warns_when_admin_hosts_is_unset(settings):
    from accounts.checks import check_admin_hosts

    settings.ADMIN_HOSTS = []
    assert [warning.id for warning in check_admin_hosts(None)] == ["accounts.W001"]
    settings.ADMIN_HOSTS = ["admin.example.com"]
    assert check_admin_hosts(None) == []
