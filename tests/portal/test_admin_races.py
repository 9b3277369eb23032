"""Two admins saving clashing rows at once: the second gets the form's message, never a 500.

The other admin's row is committed by another database connection (a thread) between our form's
unique check and our ``INSERT``, exactly where a real race falls.
"""

import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.db.models.signals import pre_save

from halo.models import HaloConnection
from tests.factories import HaloConnectionFactory, PortalFactory, UserFactory
from tests.halo import test_admin_form

pytestmark = pytest.mark.django_db(transaction=True)

staff = test_admin_form.staff  # a staff user of the portal with the HaloPSA permissions
connection_form = test_admin_form.form

HALO_ADD = "/admin/halo/haloconnection/add/"


def committed_elsewhere(make) -> None:
    """Run ``make`` on another connection and commit it, as another admin's request would."""
    errors = []

    def run():
        try:
            make()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and not errors, errors


class BeforeOurInsert:
    """While connected, each save of ``model`` first has ``make`` committed elsewhere (``times`` saves)."""

    def __init__(self, model, make, times=1):
        self.model, self.make, self.left, self.calls = model, make, times, 0
        self.thread = threading.get_ident()  # the other admin's own save is not ours

    def __call__(self, sender, instance, **kwargs):
        if self.left > 0 and instance._state.adding and threading.get_ident() == self.thread:
            self.left -= 1
            self.calls += 1
            committed_elsewhere(lambda: self.make(instance))

    def __enter__(self):
        pre_save.connect(self, sender=self.model, weak=False)
        return self

    def __exit__(self, *exc):
        pre_save.disconnect(self, sender=self.model)


def test_a_connection_added_meanwhile_is_the_forms_error_with_the_typed_values_kept(staff, portal):
    other = BeforeOurInsert(
        HaloConnection, lambda mine: HaloConnectionFactory(portal=portal, client_id="theirs")
    )
    with other:
        response = staff.post(HALO_ADD, connection_form(portal, client_id="mine"))
    assert other.calls == 1
    assert response.status_code == 200
    body = response.content.decode()
    assert "HaloPSA connection with this Portal already exists." in body
    assert 'value="mine"' in body  # what the admin typed is still there to correct or copy
    assert list(HaloConnection.objects.values_list("client_id", flat=True)) == ["theirs"]


def test_a_clash_no_form_checks_is_a_message_and_nothing_half_saved(staff, portal):
    """Another portal's connection takes our new row's key on every attempt (no form checks keys)."""
    elsewhere = PortalFactory()

    def take_the_key(mine):
        HaloConnection.objects.filter(portal=elsewhere).delete()
        HaloConnectionFactory(portal=elsewhere, key=mine.key)

    with BeforeOurInsert(HaloConnection, take_the_key, times=2) as other:
        response = staff.post(HALO_ADD, connection_form(portal), follow=True)
    assert other.calls == 2
    assert response.status_code == 200
    assert "Someone else saved a clashing change at the same moment" in response.content.decode()
    assert not HaloConnection.objects.filter(portal=portal).exists()


def test_a_group_named_meanwhile_is_the_forms_error(client, portal):
    client.force_login(UserFactory(portal=None, is_staff=True, is_superuser=True, email="root@example.com"))
    client.raise_request_exception = False
    with BeforeOurInsert(Group, lambda mine: Group.objects.create(name=mine.name)):
        response = client.post("/admin/auth/group/add/", {"name": "Billing clerks"})
    assert response.status_code == 200
    assert "Group with this Name already exists." in response.content.decode()
    assert Group.objects.filter(name="Billing clerks").count() == 1
