"""The outbound bound and breaker on Redis, and the per-process memo of provider documents.

On Redis, a concurrency slot is taken and given back with one Lua script call each
(``portal.outbound_slots``); elsewhere, or when that call fails, the cache API path is used. Both
paths must keep one shared bound. Provider documents are memoized per process for
``SSO_DOCUMENT_MEMO_SECONDS``; circuit breakers never are, and a JWKS refetch for an unknown
``kid`` reads the shared cache. "Another process" is a second cache client on the same Redis.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache.backends.redis import RedisCache

from portal import outbound, outbound_slots
from sso import discovery
from sso.models import ProviderDocument
from tests.badprovider import BadProvider
from tests.cachedown import redis_cache_down

pytestmark = pytest.mark.django_db

KEY = "portal-1|issuer"


@pytest.fixture
def bad():
    provider = BadProvider(interval=0.2, max_seconds=20)
    yield provider
    provider.stop()


@pytest.fixture
def other_process(redis_cache):
    """A cache client of its own on the same Redis, as another worker has."""
    location = redis_cache._servers[0]
    return RedisCache(location, {})


def _count(cache, key: str = KEY) -> int | None:
    return cache.get(outbound._key("inflight", key))


def test_on_redis_a_slot_is_one_script_call_and_both_paths_share_the_bound(redis_cache):
    counter = outbound._key("inflight", KEY)

    assert outbound_slots.take(counter, limit=2, ttl=15) is True  # the Lua path answers on Redis
    assert outbound._take(counter) == 2  # ...and the cache API path counts that slot
    assert outbound_slots.take(counter, limit=2, ttl=15) is False  # the bound holds across paths
    assert _count(redis_cache) == 2  # a refused take gives its count back at once
    assert (
        0 < redis_cache._cache.get_client(write=False).ttl(redis_cache.make_and_validate_key(counter)) <= 15
    )

    assert outbound_slots.give_back(counter, ttl=15) is True
    outbound._give_back(counter)
    assert _count(redis_cache) == 0


def test_without_redis_the_script_path_steps_aside_for_the_cache_api():
    counter = outbound._key("inflight", KEY)
    assert outbound_slots.take(counter, limit=1, ttl=15) is None  # the tests' locmem cache
    with redis_cache_down():
        assert outbound_slots.take(counter, limit=1, ttl=15) is None
        assert outbound_slots.give_back(counter, ttl=15) is False


def test_on_redis_a_counter_that_expired_under_calls_in_flight_never_goes_below_zero(redis_cache):
    counter = outbound._key("inflight", KEY)
    assert outbound_slots.take(counter, limit=1, ttl=15) is True
    redis_cache.delete(counter)  # expired while that call was in flight
    assert outbound_slots.take(counter, limit=1, ttl=15) is True  # a new call
    outbound_slots.give_back(counter, ttl=15)
    outbound_slots.give_back(counter, ttl=15)  # the old call finishes too

    assert _count(redis_cache) == 0
    assert outbound_slots.take(counter, limit=1, ttl=15) is True
    assert outbound_slots.take(counter, limit=1, ttl=15) is False


def test_on_redis_a_hanging_provider_gets_no_more_calls_than_the_bound(redis_cache, bad, settings):
    settings.OUTBOUND_MAX_CONCURRENT = 1
    settings.OUTBOUND_DEADLINE_SECONDS = 4
    settings.OUTBOUND_SLOT_WAIT_SECONDS = 0.3
    outcome: list = []

    def hold():
        try:
            outbound.get_json(bad.url("/hang/doc"), limit_key=KEY)
        except outbound.OutboundError as exc:
            outcome.append(exc.reason)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    deadline = time.monotonic() + 10
    while bad.hits["hang"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bad.hits["hang"] == 1
    assert _count(redis_cache) == 1  # the slot is held in Redis, where every worker sees it

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url("/hang/doc"), limit_key=KEY)

    assert exc.value.reason == "busy"
    holder.join(timeout=10)
    assert outcome == ["timeout"]
    assert bad.hits["hang"] == 1  # the refused call never went out
    assert _count(redis_cache) == 0  # and the holder gave its slot back


def test_a_breaker_another_process_opened_is_seen_by_the_next_call(redis_cache, other_process, op):
    url = f"{op.issuer}/.well-known/openid-configuration"
    assert outbound.get_json(url, breaker_key=KEY)["issuer"] == op.issuer
    entry = {"message": "The provider timed out.", "status": None, "until": time.time() + 30}
    other_process.set(outbound._key("breaker", KEY), entry, timeout=30)
    op.reset_calls()

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(url, breaker_key=KEY)

    assert exc.value.reason == "circuit_open"
    assert op.calls() == []


def test_documents_are_memoized_per_process_until_the_memo_ttl(redis_cache, other_process, op, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(discovery, "_clock", lambda: now[0])
    metadata = discovery.provider_metadata(op.issuer)
    discovery.provider_jwks(metadata)
    other_process.clear()  # another worker dropped both documents (and the kept copies went too)
    ProviderDocument.objects.all().delete()
    op.reset_calls()

    now[0] += 29  # within SSO_DOCUMENT_MEMO_SECONDS (30): no provider call, no cache read needed
    assert discovery.provider_metadata(op.issuer).token_endpoint == metadata.token_endpoint
    assert discovery.provider_jwks(metadata)["keys"]
    assert op.calls() == []

    now[0] += 2  # past it: this process reads the cache again, finds nothing, and fetches
    discovery.provider_metadata(op.issuer)
    discovery.provider_jwks(metadata)
    assert [c["path"].rsplit("/", 1)[-1] for c in op.calls()] == ["openid-configuration", "jwks"]


def test_a_refetch_for_an_unknown_kid_reads_keys_another_worker_stored(redis_cache, other_process, op):
    metadata = discovery.provider_metadata(op.issuer)
    discovery.provider_jwks(metadata)  # memoized here with kid key-1
    rotated = {"keys": [{**discovery.provider_jwks(metadata)["keys"][0], "kid": "key-2"}]}
    # Another worker saw key-2 first: it refetched (taking the per-issuer gate) and stored it.
    other_process.add(discovery._cache_key("jwks-refresh", metadata.issuer), True, timeout=60)
    other_process.set(
        discovery._cache_key("jwks", metadata.jwks_uri),
        {"doc": rotated, "fetched_at": time.time()},
        timeout=60,
    )
    op.reset_calls()

    assert discovery.provider_jwks(metadata, refresh_for_kid="key-2") == rotated
    assert op.calls() == []  # the gate was taken: the keys came from the shared cache


def test_forget_provider_drops_this_processes_memo_at_once(redis_cache, op):
    discovery.provider_metadata(op.issuer)
    discovery.forget_provider(op.issuer)
    op.reset_calls()

    discovery.provider_metadata(op.issuer)

    assert len(op.calls("/openid-configuration")) == 1
