"""factory_boy factories for the models the tests touch."""

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import User
from portal.models import Contact, Customer, Invoice, Payment, Portal
from sso.models import SSOConfig


class PortalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portal

    name = factory.Sequence(lambda n: f"Portal {n}")
    url = factory.Sequence(lambda n: f"http://portal{n}.localhost")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    portal = factory.SubFactory(PortalFactory)
    name = factory.Sequence(lambda n: f"Customer {n} Ltd")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    name = factory.Faker("name")


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"INV-{1000 + n}")
    issued_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=10))
    due_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=20))
    currency = "USD"
    total = Decimal("120.00")
    balance = factory.SelfAttribute("total")
    status = Invoice.Status.OPEN


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    portal = factory.SubFactory(PortalFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SSOConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SSOConfig

    portal = factory.SubFactory(PortalFactory)
    description = "HaloPSA"
    issuer = factory.Sequence(lambda n: f"https://instance{n}.halopsa.example/auth")
    client_id = factory.Sequence(lambda n: f"client-{n}")
    enabled = True  # a live config; new ones start disabled (tests/sso/test_enable_after_test.py)


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    invoice = factory.SubFactory(InvoiceFactory)
    paid_on = factory.LazyFunction(timezone.localdate)
    amount = Decimal("50.00")
    method = "card"


class HaloConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "halo.HaloConnection"

    portal = factory.SubFactory(PortalFactory)
    api_url = "https://acme.halopsa.example/api"
    auth_url = "https://acme.halopsa.example/auth"
    client_id = "portal-sync"
    client_secret = "sync-secret"
    tenant = "demo"
