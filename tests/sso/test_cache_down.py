"""SSO while the cache (Redis) is down: login starts and returning logins keep working.

Discovery and JWKS fall back to the copy kept in PostgreSQL; the circuit breaker and concurrency
bound in the cache count as closed/unbounded; the JWKS refetch gate falls back to one per process.
"""

from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from sso.discovery import forget_memo
from sso.models import ProviderDocument
from tests.cachedown import redis_cache_down


def test_login_start_with_the_cache_down_redirects_to_the_provider(client, sso_config, op):
    with redis_cache_down():
        response = client.get(f"/sso/{sso_config.key}/login/")
    assert response.status_code == 302 and response["Location"].startswith(f"{op.issuer}/authorize?")
    # What was fetched is kept in PostgreSQL for the next login.
    assert ProviderDocument.objects.filter(kind="discovery").count() == 1


def test_returning_login_with_the_cache_down_signs_in_from_the_copy_in_postgresql(
    journey, client, sso_config, op, returning_alice
):
    journey.login(sso_config)  # fills the cache and the kept copies
    client.logout()
    op.reset_calls()

    with redis_cache_down():
        response = journey.login(sso_config)

    assert response.status_code == 302, response.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)
    # Neither discovery nor JWKS was fetched again: the copies in PostgreSQL were used.
    assert op.calls("/.well-known/openid-configuration") == [] and op.calls("jwks") == []


def test_a_cache_emptied_by_a_redis_restart_does_not_send_logins_to_the_provider(
    journey, client, sso_config, op, returning_alice
):
    from django.core.cache import cache

    journey.login(sso_config)
    client.logout()
    cache.clear()
    op.reset_calls()
    assert journey.login(sso_config).status_code == 302
    assert client.session[SESSION_KEY] == str(returning_alice.pk)
    assert op.calls("/.well-known/openid-configuration") == []


def test_kept_copy_past_the_stale_window_is_not_used(client, sso_config, op, settings):
    client.get(f"/sso/{sso_config.key}/login/")
    ProviderDocument.objects.update(fetched_at=timezone.now() - timezone.timedelta(days=30))
    from django.core.cache import cache

    cache.clear()
    forget_memo()  # a worker that has not read it within SSO_DOCUMENT_MEMO_SECONDS
    op.reset_calls()
    with redis_cache_down():
        assert client.get(f"/sso/{sso_config.key}/login/").status_code == 302
    assert len(op.calls("/.well-known/openid-configuration")) == 1  # fetched afresh
