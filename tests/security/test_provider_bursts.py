"""The per-provider bound on calls in flight (OUTBOUND_MAX_CONCURRENT) queues a burst briefly.

A burst of first logins at a healthy provider used to be answered 503 "busy" as soon as the
bound was reached, although each call takes a fraction of a second. A call that finds every
slot taken now waits up to OUTBOUND_SLOT_WAIT_SECONDS for one; a hanging provider still gets no
more calls than the bound, and a call that waited does not go out once the breaker has opened.
"""

from __future__ import annotations

import threading
import time

import pytest

from portal import outbound
from tests.badprovider import BadProvider
from tests.oidc_op import TinyOP


@pytest.fixture
def bad():
    provider = BadProvider(interval=0.2, max_seconds=20)
    yield provider
    provider.stop()


@pytest.fixture
def op():
    provider = TinyOP()
    yield provider
    provider.stop()


def _hang_in_background(bad: BadProvider, **kwargs) -> tuple[threading.Thread, list]:
    """One call holding the only slot (the provider hangs until the call's deadline)."""
    outcome: list = []

    def call():
        try:
            outbound.get_json(bad.url("/hang/doc"), **kwargs)
        except outbound.OutboundError as exc:
            outcome.append(exc.reason)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while bad.hits["hang"] == 0 and time.monotonic() < deadline:  # the slot is now taken
        time.sleep(0.02)
    assert bad.hits["hang"] == 1
    return thread, outcome


def test_a_call_that_finds_the_slots_taken_waits_for_one_instead_of_being_refused(bad, op, settings):
    settings.OUTBOUND_MAX_CONCURRENT = 1
    settings.OUTBOUND_DEADLINE_SECONDS = 1.5
    settings.OUTBOUND_SLOT_WAIT_SECONDS = 8  # far longer than the holder's deadline: it must free
    holder, outcome = _hang_in_background(bad, limit_key="portal-1|issuer")

    document = outbound.get_json(
        f"{op.issuer}/.well-known/openid-configuration", limit_key="portal-1|issuer", deadline=10
    )

    assert document["issuer"] == op.issuer
    holder.join(timeout=10)
    assert outcome == ["timeout"]  # the holder really held the slot until its deadline


def test_a_call_that_finds_no_slot_within_the_wait_is_refused_as_busy(bad, op, settings):
    settings.OUTBOUND_MAX_CONCURRENT = 1
    settings.OUTBOUND_DEADLINE_SECONDS = 6
    settings.OUTBOUND_SLOT_WAIT_SECONDS = 0.3  # far shorter than the holder's deadline
    holder, _ = _hang_in_background(bad, limit_key="portal-1|issuer")

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(f"{op.issuer}/.well-known/openid-configuration", limit_key="portal-1|issuer")

    assert exc.value.reason == "busy"
    assert op.calls("/.well-known/openid-configuration") == []
    # Another portal's key is not held up by this one's bound.
    other = outbound.get_json(f"{op.issuer}/.well-known/openid-configuration", limit_key="portal-2|issuer")
    assert other["issuer"] == op.issuer
    holder.join(timeout=10)


def test_a_call_that_waited_does_not_go_out_once_the_breaker_opened(bad, settings):
    """The holder fails and opens the breaker while still holding its slot; the waiter then gets
    the slot and must see the breaker, or a hanging provider would get one call per waiter."""
    settings.OUTBOUND_MAX_CONCURRENT = 1
    settings.OUTBOUND_DEADLINE_SECONDS = 1.5
    settings.OUTBOUND_SLOT_WAIT_SECONDS = 8
    holder, outcome = _hang_in_background(bad, breaker_key="portal-1|issuer")

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url("/hang/doc"), breaker_key="portal-1|issuer", deadline=10)

    assert exc.value.reason == "circuit_open"
    holder.join(timeout=10)
    assert outcome == ["timeout"]
    assert bad.hits["hang"] == 1


def test_a_slot_counter_that_expired_under_calls_in_flight_never_goes_below_zero(settings):
    """The counter expires a little after the longest call (a killed worker cannot leak a slot);
    calls still in flight then give back slots of a counter started again. Below zero, the next
    calls would be counted as fewer than they are and more than the bound would go out."""
    from django.core.cache import cache

    counter = outbound._key("inflight", "portal-1|issuer")
    assert outbound._take(counter) == 1
    cache.delete(counter)  # expired while that call was in flight
    assert outbound._take(counter) == 1  # a new call
    outbound._give_back(counter)
    outbound._give_back(counter)  # the old call finishes too

    assert outbound._take(counter) == 1
