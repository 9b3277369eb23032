"""Issue 8 item 2 (in-process part): a slow or huge answer is cut at the deadline and the cap.

The worker-exhaustion half (a real gunicorn under attack) is in test_worker_exhaustion.py.
"""

import time
from urllib.parse import urlsplit

import pytest

from portal import outbound
from sso.models import SSOEvent
from tests.badprovider import BadProvider
from tests.factories import SSOConfigFactory
from tests.oidc_op import TinyOP


@pytest.fixture
def bad():
    provider = BadProvider(interval=0.2, max_seconds=20)
    yield provider
    provider.stop()


def test_a_60_mb_answer_is_read_only_up_to_the_cap(bad, settings):
    settings.OUTBOUND_MAX_BYTES = 512 * 1024
    log = outbound.start_call_log()

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url("/huge/doc"))

    assert exc.value.reason == "response_too_large"
    bytes_read = log.calls[-1].bytes_read
    assert 512 * 1024 < bytes_read <= 512 * 1024 + 64 * 1024  # stopped at the cap (plus one chunk)
    time.sleep(0.2)  # let the server notice the closed socket
    assert bad.bytes_sent["huge"] < 16 * 1024 * 1024  # 60 MB offered; kernel buffers aside, refused


def test_an_announced_huge_body_is_not_read_at_all(bad, settings):
    settings.OUTBOUND_MAX_BYTES = 1000
    log = outbound.start_call_log()

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url("/drip-body/doc"))  # announces Content-Length: 100000

    assert exc.value.reason == "response_too_large"
    assert log.calls[-1].bytes_read == 0
    assert log.calls[-1].duration_ms < 1000


@pytest.mark.parametrize("path", ["/drip-body/doc", "/drip-headers/doc", "/hang/doc"])
def test_a_dripping_or_hanging_provider_is_cut_at_the_total_deadline(bad, settings, path):
    """One byte every 0.2 s never trips a per-read timeout; the total deadline does."""
    settings.OUTBOUND_DEADLINE_SECONDS = 1.5
    settings.OUTBOUND_MAX_BYTES = 10**6
    started = time.monotonic()

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url(path))

    elapsed = time.monotonic() - started
    assert exc.value.reason == "timeout"
    assert 1.4 < elapsed < 2.5


def test_calls_inside_one_budget_share_its_deadline(bad, settings):
    """A callback's token, keys and userinfo calls together answer within the login deadline."""
    settings.OUTBOUND_DEADLINE_SECONDS = 10
    started = time.monotonic()

    with outbound.budget(1.5):
        for _ in range(3):
            with pytest.raises(outbound.OutboundError):
                outbound.get_json(bad.url("/drip-body/doc"))

    assert time.monotonic() - started < 2.5


def test_after_a_failure_calls_with_the_same_breaker_key_fail_at_once(bad, settings):
    settings.OUTBOUND_DEADLINE_SECONDS = 1.0
    with pytest.raises(outbound.OutboundError):
        outbound.get_json(bad.url("/hang/doc"), breaker_key="portal-1|issuer")
    started = time.monotonic()

    with pytest.raises(outbound.OutboundError) as exc:
        outbound.get_json(bad.url("/hang/doc"), breaker_key="portal-1|issuer")

    assert exc.value.reason == "circuit_open"
    assert time.monotonic() - started < 0.2
    assert bad.hits["hang"] == 1
    # Another portal's calls to the same issuer are not affected by this portal's breaker.
    with pytest.raises(outbound.OutboundError) as other:
        outbound.get_json(bad.url("/hang/doc"), breaker_key="portal-2|issuer")
    assert other.value.reason == "timeout"


@pytest.mark.django_db
def test_a_login_start_with_a_dripping_discovery_answers_504_within_the_deadline(
    client, portal, bad, settings
):
    settings.OUTBOUND_DEADLINE_SECONDS = 3
    config = SSOConfigFactory(portal=portal, issuer=bad.url("/drip-headers"))
    started = time.monotonic()

    response = client.get(f"/sso/{config.key}/login/")

    assert time.monotonic() - started < 4
    assert response.status_code == 504
    assert b"answering right now" in response.content
    # The next login start answers from the failure at once, without calling the provider.
    started = time.monotonic()
    assert client.get(f"/sso/{config.key}/login/").status_code == 503
    assert time.monotonic() - started < 0.5
    assert bad.hits["drip-headers"] == 1


@pytest.mark.django_db
def test_a_callback_with_a_dripping_token_endpoint_answers_within_the_deadline(client, portal, bad, settings):
    """Token, keys and userinfo calls together stay inside one login deadline."""
    import requests as plain_requests

    settings.OUTBOUND_DEADLINE_SECONDS = 3
    op = TinyOP()
    try:
        op.knobs.discovery_overrides = {"token_endpoint": bad.url("/drip-body/token")}
        config = SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id)
        authorize = client.get(f"/sso/{config.key}/login/")["Location"]
        callback = plain_requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
        started = time.monotonic()

        parts = urlsplit(callback)
        response = client.get(f"{parts.path}?{parts.query}")

        assert time.monotonic() - started < 4
        assert response.status_code == 504
        assert SSOEvent.objects.get(config=config).reason == "token_endpoint_timeout"
    finally:
        op.stop()
