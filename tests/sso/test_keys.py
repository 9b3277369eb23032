"""Config keys: shaped like x7k2p9-halopsa-m3n8q1, random, unique and never handed out twice."""

import itertools
import re

import pytest

from portal.models import Portal
from sso import keys
from sso.events import sso_event_record
from sso.models import IssuedKey, SSOConfig
from tests.factories import SSOConfigFactory

pytestmark = pytest.mark.django_db

KEY = re.compile(r"^[a-z0-9]{6}-halopsa-[a-z0-9]{6}$")


def test_key_shape(portal):
    config = SSOConfigFactory(portal=portal)
    assert KEY.match(config.key)


def test_keys_are_unique(portal):
    made = {SSOConfigFactory(portal=portal).key for _ in range(50)}
    assert len(made) == 50
    assert all(KEY.match(key) for key in made)


@pytest.fixture
def predictable_chunks(monkeypatch):
    """Make the random part repeat: "aaaaaa", "aaaaaa", "bbbbbb", "bbbbbb", ..."""
    sequence = itertools.chain.from_iterable((c * 6, c * 6) for c in "abcdefghij")
    monkeypatch.setattr(keys, "_chunk", lambda length=6: next(sequence))


def test_a_deleted_configs_key_is_never_reused(portal, predictable_chunks, monkeypatch):
    first = SSOConfigFactory(portal=portal)
    assert first.key == "aaaaaa-halopsa-aaaaaa"
    first.delete()  # even a plain delete, with no event ever logged for it

    sequence = itertools.chain.from_iterable((c * 6, c * 6) for c in "abcdefghij")
    monkeypatch.setattr(keys, "_chunk", lambda length=6: next(sequence))
    second = SSOConfigFactory(portal=portal)
    assert second.key == "bbbbbb-halopsa-bbbbbb"


def test_keys_survive_the_portal_itself(predictable_chunks, monkeypatch):
    portal = Portal.objects.create(name="Gone", url="http://gone.localhost")
    SSOConfigFactory(portal=portal)
    portal.delete()
    assert not SSOConfig.objects.exists()
    assert IssuedKey.objects.filter(key="aaaaaa-halopsa-aaaaaa").exists()

    sequence = itertools.chain.from_iterable((c * 6, c * 6) for c in "abcdefghij")
    monkeypatch.setattr(keys, "_chunk", lambda length=6: next(sequence))
    other = Portal.objects.create(name="New", url="http://new.localhost")
    assert SSOConfigFactory(portal=other).key == "bbbbbb-halopsa-bbbbbb"


def test_a_key_seen_only_in_the_event_log_is_not_reused(portal, predictable_chunks):
    sso_event_record(
        portal=portal, outcome="failure", reason="unknown_key", config_key="aaaaaa-halopsa-aaaaaa"
    )
    assert SSOConfigFactory(portal=portal).key == "bbbbbb-halopsa-bbbbbb"


def test_key_is_generated_once_and_kept(portal):
    config = SSOConfigFactory(portal=portal)
    key = config.key
    config.description = "Renamed"
    config.save()
    config.refresh_from_db()
    assert config.key == key
    assert IssuedKey.objects.filter(key=key).count() == 1


def test_changing_a_stored_key_is_refused(portal):
    config = SSOConfig.objects.get(pk=SSOConfigFactory(portal=portal).pk)
    config.key = "zzzzzz-halopsa-zzzzzz"
    with pytest.raises(ValueError):
        config.save()
