"""portal.prepared: hot lookups with SQL compiled once, answering exactly as the ORM would."""

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from portal.models import Portal
from portal.prepared import PreparedLookup
from portal.selectors import portal_for_host_name
from sso.models import SSOConfig
from sso.selectors import sso_config_by_key
from tests.factories import PortalFactory, SSOConfigFactory

pytestmark = pytest.mark.django_db


def fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_portal_by_host_is_the_row_the_orm_reads():
    portal = PortalFactory(url="http://acme.localhost")
    PortalFactory(url="http://other.localhost")

    found = portal_for_host_name(host="acme.localhost")

    assert fields(found) == fields(Portal.objects.get(pk=portal.pk))
    assert found._state.adding is False and found._state.db == "default"
    assert portal_for_host_name(host="nobody.localhost") is None
    assert portal_for_host_name(host="") is None


def test_config_by_key_decrypts_and_keeps_portals_apart():
    acme, other = PortalFactory(), PortalFactory()
    config = SSOConfigFactory(portal=acme, client_secret="s3cret-value")

    found = sso_config_by_key(portal=acme, key=config.key)

    assert fields(found) == fields(SSOConfig.objects.get(pk=config.pk))
    assert found.client_secret == "s3cret-value"  # from_db_value ran: the column holds ciphertext
    assert found.created_at.tzinfo is not None
    assert found.portal is acme
    assert sso_config_by_key(portal=other, key=config.key) is None  # another portal's key: not found


def test_each_lookup_reads_the_database_so_changes_show_at_once():
    portal = PortalFactory()
    config = SSOConfigFactory(portal=portal, enabled=True)
    assert sso_config_by_key(portal=portal, key=config.key).enabled is True

    SSOConfig.objects.filter(pk=config.pk).update(enabled=False)  # no signal, no save()

    with CaptureQueriesContext(connection) as queries:
        assert sso_config_by_key(portal=portal, key=config.key).enabled is False
    assert len(queries) == 1


def test_values_must_be_the_ones_it_was_built_with():
    lookup = PreparedLookup(Portal, lambda host: Portal.objects.filter(host=host), strings=("host",))
    with pytest.raises(TypeError):
        lookup.first(name="x")


def test_refuses_what_it_cannot_build():
    annotated = PreparedLookup(
        SSOConfig, lambda key: SSOConfig.objects.filter(key=key).annotate(n=Count("id")), strings=("key",)
    )
    with pytest.raises(ValueError):
        annotated.first(key="x")
    unused = PreparedLookup(Portal, lambda host: Portal.objects.filter(name="fixed"), strings=("host",))
    with pytest.raises(ValueError, match="host"):
        unused.first(host="x")


def test_select_related_builds_the_joined_instance_too():
    portal = PortalFactory(url="http://acme.localhost")
    config = SSOConfigFactory(portal=portal)
    joined = PreparedLookup(
        SSOConfig,
        lambda key: SSOConfig.objects.filter(key=key).select_related("portal").order_by()[:1],
        strings=("key",),
    )

    with CaptureQueriesContext(connection) as queries:
        found = joined.first(key=config.key)
        assert fields(found.portal) == fields(portal)  # no second query: it came with the join
    assert len(queries) == 1
    assert fields(found) == fields(SSOConfig.objects.get(pk=config.pk))
