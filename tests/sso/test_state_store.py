"""The pending-login store on the shared cache (Redis): single use, bound to the browser, expiring,
and falling back to the session while Redis is down. Needs ``TEST_BROKER_URL`` (the Makefile sets it)."""

import threading
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client, RequestFactory, override_settings

from portal import safe_cache
from sso.discovery import forget_memo
from sso.models import ProviderDocument, SSOEvent
from sso.state import SESSION_KEY as STATES_KEY
from sso.state import browser_cookie_name, pop_state, restarted_cookie_name
from tests.cachedown import redis_cache_down
from tests.factories import UserFactory
from tests.oidc_op import rsa_key


def state_of(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def last_event(config) -> SSOEvent:
    return SSOEvent.objects.filter(config=config).latest("id")


def test_a_returning_login_keeps_its_state_in_the_cache_not_in_a_session(
    redis_cache, journey, client, sso_config, returning_alice
):
    authorize = journey.start(sso_config)

    assert settings.SESSION_COOKIE_NAME not in client.cookies  # the start opened no session
    assert not Session.objects.exists()
    assert browser_cookie_name() in client.cookies
    assert client.cookies[browser_cookie_name()]["httponly"]
    response = journey.callback(journey.authorize(authorize))

    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(returning_alice.pk)
    assert STATES_KEY not in client.session
    assert Session.objects.count() == 1  # the signed-in session, and nothing else
    assert (last_event(sso_config).outcome, last_event(sso_config).reason) == ("success", "signed_in")


def test_a_state_is_single_use(redis_cache, journey, sso_config, returning_alice):
    callback = journey.authorize(journey.start(sso_config))
    binding = journey.client.cookies[browser_cookie_name()].value
    assert journey.callback(callback).status_code == 302
    journey.client.logout()
    journey.client.cookies[browser_cookie_name()] = binding  # the same browser, signed out

    replay = journey.callback(callback)

    assert replay.status_code == 400 and last_event(sso_config).reason == "state_unknown"


def _pop_in_a_thread(*, portal, cookie: str, state: str, barrier, results: list) -> None:
    request = RequestFactory().get("/callback")
    request.COOKIES[browser_cookie_name()] = cookie
    request.portal = portal
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    barrier.wait()
    results.append(pop_state(request, state))


def test_two_concurrent_pops_of_one_state_give_it_to_one_of_them(redis_cache, client, portal, sso_config):
    for _ in range(10):
        state = state_of(client.get(f"/sso/{sso_config.key}/login/")["Location"])
        cookie = client.cookies[browser_cookie_name()].value
        barrier, results = threading.Barrier(2, timeout=5), []
        kwargs = {"portal": portal, "cookie": cookie, "state": state, "barrier": barrier, "results": results}
        threads = [threading.Thread(target=_pop_in_a_thread, kwargs=kwargs) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(results) == 2
        assert sum(result is not None for result in results) == 1
        assert next(r for r in results if r is not None).config_key == sso_config.key


def test_a_state_from_another_browser_is_refused_and_stays_usable_by_its_own(
    redis_cache, journey, client, sso_config, returning_alice, op
):
    callback = journey.authorize(journey.start(sso_config))
    other = Client(HTTP_HOST="acme.localhost")
    other.get(f"/sso/{sso_config.key}/login/")  # a browser with a binding cookie of its own
    assert other.cookies[browser_cookie_name()].value != client.cookies[browser_cookie_name()].value

    for stranger in (other, Client(HTTP_HOST="acme.localhost")):
        response = stranger.get(callback)
        assert response.status_code == 400 and last_event(sso_config).reason == "state_unknown"
        assert SESSION_KEY not in stranger.session

    assert journey.callback(callback).status_code == 302  # the stranger's tries did not use it up
    assert client.session[SESSION_KEY] == str(returning_alice.pk)


def test_a_forged_binding_cookie_finds_nothing(redis_cache, journey, client, sso_config):
    callback = journey.authorize(journey.start(sso_config))
    client.cookies[browser_cookie_name()] = "x" * 43

    response = journey.callback(callback)

    assert response.status_code == 400 and last_event(sso_config).reason == "state_unknown"


def test_an_expired_state_is_refused(redis_cache, journey, sso_config, settings):
    authorize = journey.start(sso_config)
    key = next(iter(redis_cache._cache.get_client().keys("*sso:state:*")))
    ttl = redis_cache._cache.get_client().ttl(key)
    assert 0 < ttl <= settings.SSO_STATE_MAX_AGE + 60  # Redis forgets it on its own as well
    callback = journey.authorize(authorize)
    settings.SSO_STATE_MAX_AGE = -1

    response = journey.callback(callback)

    assert response.status_code == 400 and last_event(sso_config).reason == "state_expired"


def test_with_the_cache_down_a_returning_login_keeps_its_state_in_the_session(
    redis_cache, journey, client, sso_config, returning_alice
):
    journey.login(sso_config)  # fills the kept copies of discovery and JWKS
    client.logout()

    with redis_cache_down():
        authorize = journey.start(sso_config)
        assert state_of(authorize) in client.session[STATES_KEY]
        response = journey.callback(journey.authorize(authorize))

    assert response.status_code == 302, response.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)


def test_a_login_started_while_the_cache_was_down_finishes_after_it_came_back(
    redis_cache, journey, client, sso_config, returning_alice
):
    journey.login(sso_config)
    client.logout()
    with redis_cache_down():
        authorize = journey.start(sso_config)
    safe_cache.reset()

    response = journey.callback(journey.authorize(authorize))

    assert response.status_code == 302, response.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)
    assert state_of(authorize) not in client.session.get(STATES_KEY, {})


def test_a_callback_that_finds_the_cache_down_starts_the_sign_in_again_and_finishes(
    redis_cache, journey, client, sso_config, returning_alice
):
    """The state went to Redis at the start; Redis is down when the person comes back. Not "this
    sign-in has expired": the sign-in starts again (its state in the session now) and finishes."""
    journey.login(sso_config)
    client.logout()
    callback = journey.authorize(journey.start(sso_config))

    with redis_cache_down():
        restart = journey.callback(callback)
        assert restart.status_code == 302 and restart["Location"] == f"/sso/{sso_config.key}/login/"
        assert client.cookies[restarted_cookie_name()].value == "1"
        done = journey.callback(journey.authorize(journey.start(sso_config)))

    assert done.status_code == 302 and done["Location"] == "/", done.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)
    assert client.cookies[restarted_cookie_name()].value == ""  # deleted once signed in


def test_a_second_miss_in_a_row_is_the_503_page_and_the_callback_finishes_once_the_cache_is_back(
    redis_cache, journey, client, sso_config, returning_alice
):
    journey.login(sso_config)
    client.logout()
    callback = journey.authorize(journey.start(sso_config))
    client.cookies[restarted_cookie_name()] = "1"  # this browser was just sent round once
    client.raise_request_exception = False

    with redis_cache_down():
        down = journey.callback(callback)
    safe_cache.reset()
    again = journey.callback(callback)  # nothing was consumed: the state is still on Redis

    assert down.status_code == 503 and b"try again in a minute" in down.content
    assert again.status_code == 302 and again["Location"] == "/", again.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)


def test_staff_whose_callback_finds_the_cache_down_get_the_503_page_not_a_customer_sign_in(
    redis_cache, journey, client, sso_config, returning_alice
):
    """An admin's Try sign-in, started again, would sign them in as a customer in place of their session."""
    journey.login(sso_config)
    client.logout()
    staff = UserFactory(portal=sso_config.portal, email="staff@example.com", is_staff=True)
    client.force_login(staff)
    callback = journey.authorize(journey.start(sso_config))
    client.raise_request_exception = False

    with redis_cache_down():
        down = journey.callback(callback)

    assert down.status_code == 503
    assert client.session[SESSION_KEY] == str(staff.pk)


@override_settings(SESSION_ENGINE="portal.sessions")
def test_signed_in_through_sessions_on_the_cache_and_still_signed_in_while_it_is_down(
    redis_cache, journey, client, sso_config, returning_alice
):
    assert journey.login(sso_config).status_code == 302
    assert client.get("/").status_code == 200

    with redis_cache_down():
        assert client.get("/").status_code == 200  # the session comes from PostgreSQL
        assert client.get("/invoices/").status_code == 200
    assert client.get("/").status_code == 200


def test_parsed_signing_keys_follow_a_key_rotation_under_the_same_kid(
    redis_cache, journey, client, sso_config, returning_alice, op
):
    assert journey.login(sso_config).status_code == 302
    client.logout()
    op.key = rsa_key("other")  # new key material, same kid "key-1"
    redis_cache.clear()  # the cached JWKS expired...
    forget_memo()  # ...so did this process's memo of it (SSO_DOCUMENT_MEMO_SECONDS later)...
    ProviderDocument.objects.all().delete()  # ...and so did the kept copy

    response = journey.login(sso_config)

    assert response.status_code == 302, response.content[:300]
    assert client.session[SESSION_KEY] == str(returning_alice.pk)


def test_in_production_the_binding_cookie_is_host_prefixed_and_secure(
    redis_cache, client, sso_config, settings
):
    settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE = "__Host-sessionid", True

    client.get(f"/sso/{sso_config.key}/login/")

    cookie = client.cookies["__Host-ssobrowser"]
    assert cookie["secure"] and cookie["httponly"] and cookie["path"] == "/" and not cookie["domain"]
    assert cookie["samesite"] == "Lax"
