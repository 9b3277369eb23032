"""Attacks that held: admin scoping, checked on every admin URL of every registered model.

The test walks ``admin.site._registry`` (so a model registered later is covered, or fails loudly
until it gets a row maker below) and, as a staff user of portal A, opens for each model the
changelist, add, change, delete and history pages, and posts change, delete and the bulk delete
action against portal B's row. Portal B's rows never show (their change URL and their marker text
are absent from every page) and their URLs answer 403/404 (or a redirect away from them), with
the row unchanged afterwards. It is run twice: with the real "Portal administrators" grants, and
with *every* permission, because row scoping must not depend on which models a user may touch.
"""

import datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, EmailVerification, Identity, LoginCode, LoginCodeFailureDay, User
from halo.models import HaloConnection, SyncRun, WebhookDelivery
from portal.admin_scoping import scoped_path
from portal.models import Contact, Customer, Invoice, Payment, Portal
from portal.permissions import portal_staff_user_ensure
from sso.models import SSOConfig, SSOEvent
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PaymentFactory,
    SSOConfigFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _world(portal, tag: str) -> dict:
    """One row of every registered tenant model for ``portal``, each carrying ``tag`` where text fits."""
    customer = CustomerFactory(portal=portal, name=f"{tag} Ltd")
    contact = ContactFactory(customer=customer, email=f"{tag}@example.com", name=f"{tag} Person")
    invoice = InvoiceFactory(customer=customer, number=f"{tag}-INV")
    payment = PaymentFactory(invoice=invoice, method=f"{tag}-card")
    config = SSOConfigFactory(portal=portal, description=f"{tag} HaloPSA", client_id=f"{tag}-client")
    user = UserFactory(portal=portal, email=f"{tag}-user@example.com", name=f"{tag} User")
    identity = Identity.objects.create(
        portal=portal, sso_config=config, issuer=config.issuer, sub=f"{tag}-sub", email=user.email, name=tag
    )
    now = timezone.now()
    connection = HaloConnection.objects.create(
        portal=portal,
        api_url=f"https://{tag}.example/api",
        auth_url=f"https://{tag}.example/auth",
        client_id=f"{tag}-api",
    )
    from payments.models import CardPayment, HaloWriteBack, PaymentAudit, StripeAccount

    stripe_account = StripeAccount.objects.create(
        portal=portal,
        publishable_key=f"pk_test_{tag}",
        secret_key=f"sk_test_{tag}",
        webhook_secret=f"whsec_{tag}",
    )
    card_payment = CardPayment.objects.create(
        portal=portal, customer=customer, amount=invoice.total, currency=invoice.currency, card_brand=tag
    )
    return {
        HaloConnection: connection,
        SyncRun: SyncRun.objects.create(connection=connection, portal=portal, mode="full", error=tag),
        WebhookDelivery: WebhookDelivery.objects.create(connection=connection, reason=tag),
        StripeAccount: stripe_account,
        CardPayment: card_payment,
        PaymentAudit: PaymentAudit.objects.create(
            portal=portal, kind=f"{tag}-kind", card_payment=card_payment
        ),
        HaloWriteBack: HaloWriteBack.objects.create(
            portal=portal,
            card_payment=card_payment,
            invoice=invoice,
            amount=invoice.total,
            thirdpartyid=f"pi_{tag}",
            state="failed",
            last_error=f"{tag} refused",
        ),
        Portal: portal,
        Customer: customer,
        Contact: contact,
        Invoice: invoice,
        Payment: payment,
        SSOConfig: config,
        SSOEvent: SSOEvent.objects.create(
            portal=portal, config=config, outcome="failure", reason=tag, message=tag
        ),
        User: user,
        Identity: identity,
        EmailVerification: EmailVerification.objects.create(
            portal=portal,
            identity=identity,
            email=f"{tag}-verify@example.com",
            expires_at=now,
            next_url=f"/{tag}/",
        ),
        LoginCode: LoginCode.objects.create(portal=portal, email=f"{tag}-code@example.com"),
        LoginCodeFailureDay: LoginCodeFailureDay.objects.create(
            portal=portal, email=f"{tag}-fail@example.com", day=datetime.date.today()
        ),
        AuditEvent: AuditEvent.objects.create(
            portal=portal, kind=f"{tag}-kind", email=f"{tag}-audit@example.com"
        ),
    }


#: Registered models that hold no tenant data: staff of a portal get no access to them at all.
GLOBAL_MODELS = {Group}

TAG_A, TAG_B = "acmemarker", "globexmarker"


@pytest.fixture
def worlds(portal, other_portal):
    return _world(portal, TAG_A), _world(other_portal, TAG_B)


def _staff(client, portal, *, every_permission: bool):
    user, _created = portal_staff_user_ensure(
        portal=portal, email="staff@acme.example", password="pw-123456789x"
    )
    if every_permission:
        user.user_permissions.set(Permission.objects.exclude(content_type__app_label="auth"))
    client.force_login(user)
    return user


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _registered():
    return sorted(admin.site._registry, key=lambda m: m._meta.label)


def test_every_registered_model_is_covered(worlds):
    """A newly registered admin model needs a row in ``_world`` (or GLOBAL_MODELS) to be checked here."""
    a, _b = worlds
    missing = [m._meta.label for m in _registered() if m not in a and m not in GLOBAL_MODELS]
    assert not missing, f"add a row maker for {missing} to tests/security/test_admin_scoping.py::_world"
    for model in a:
        assert model in admin.site._registry
        assert scoped_path(model) is not None, model._meta.label  # the admin knows how to scope it


def _refused(response, b_obj) -> None:
    """403/404, or a redirect that does not lead to the row (e.g. to the admin's sign-in)."""
    assert response.status_code in (302, 403, 404), response.status_code
    if response.status_code == 302:
        assert f"/{b_obj.pk}/" not in response["Location"], response["Location"]


def _clean(response) -> None:
    if response.status_code == 200:
        assert TAG_B.encode() not in response.content.lower()


@pytest.mark.parametrize("every_permission", [False, True], ids=["portal-admins-group", "every-permission"])
def test_staff_of_a_never_reach_portal_bs_rows_on_any_admin_url(client, portal, worlds, every_permission):
    a, b = worlds
    _staff(client, portal, every_permission=every_permission)
    seen_a = 0
    for model in _registered():
        if model in GLOBAL_MODELS:
            for url in (_url(model, "changelist"), _url(model, "add")):
                assert client.get(url).status_code == 403, url
            continue
        b_obj, a_obj = b[model], a[model]
        b_change = _url(model, "change", b_obj.pk)

        changelist = client.get(_url(model, "changelist"))
        assert changelist.status_code in (200, 403), model
        _clean(changelist)
        assert b_change.encode() not in changelist.content
        if changelist.status_code == 200:
            assert b_obj.pk not in [row.pk for row in changelist.context["cl"].result_list]
            seen_a += a_obj.pk in [row.pk for row in changelist.context["cl"].result_list]
            # a filter naming portal B in the query string finds nothing of B's either
            path = scoped_path(model)
            portal_b = b[Portal].pk
            filtered = client.get(_url(model, "changelist"), {f"{path}__exact": portal_b})
            _clean(filtered)
            if filtered.status_code == 200 and "cl" in filtered.context:
                assert b_obj.pk not in [row.pk for row in filtered.context["cl"].result_list]

        add = client.get(_url(model, "add"))
        assert add.status_code in (200, 403), model
        _clean(add)  # B's rows are not offered as choices of any field

        for view in ("change", "delete", "history"):
            response = client.get(_url(model, view, b_obj.pk))
            _refused(response, b_obj)
            _clean(response)

        before = model._default_manager.filter(pk=b_obj.pk).values().first()
        _refused(client.post(b_change, {"name": "pwned", "email": "pwned@example.com"}), b_obj)
        _refused(client.post(_url(model, "delete", b_obj.pk), {"post": "yes"}), b_obj)
        client.post(
            _url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": [b_obj.pk], "post": "yes"},
        )
        after = model._default_manager.filter(pk=b_obj.pk).values().first()
        assert after == before, f"{model._meta.label}: portal B's row changed"

        # the control: A's own row is reachable where the grants allow (so the 404s above are scoping)
        own = client.get(_url(model, "change", a_obj.pk))
        assert own.status_code in (200, 403), (model, own.status_code)
        if every_permission:
            assert own.status_code == 200, model
    assert seen_a >= 10  # portal A's rows do show on the changelists


def test_staff_of_portal_b_see_nothing_of_portal_a_on_its_host(client, portal, other_portal, worlds):
    """B's staff on A's host (the cookie of the other host, or a forced session) sees none of A's rows."""
    a, _b = worlds
    user, _ = portal_staff_user_ensure(
        portal=other_portal, email="staff@globex.example", password="pw-123456789x"
    )
    client.force_login(user)

    response = client.get(_url(Customer, "change", a[Customer].pk))

    assert response.status_code in (302, 403, 404)
    assert TAG_A.encode() not in client.get(_url(Customer, "changelist")).content.lower()
