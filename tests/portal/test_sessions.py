"""``portal.sessions`` (cached_db): signed-in people keep working from the database while Redis is down."""

import pytest
from django.test import Client, override_settings

from tests.cachedown import redis_cache_down
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@override_settings(SESSION_ENGINE="portal.sessions")
def test_cached_db_sessions_keep_working_from_the_database_while_the_cache_is_down(portal, contact):
    browser = Client(HTTP_HOST="acme.localhost")
    browser.force_login(UserFactory(portal=portal, email="alice@example.com"))
    with redis_cache_down():
        assert browser.get("/").status_code == 200  # read from the database
        assert browser.get("/invoices/").status_code == 200
        fresh = Client(HTTP_HOST="acme.localhost")
        assert fresh.get("/login/").status_code == 200
        assert browser.post("/logout/").status_code == 302
        assert browser.get("/").status_code == 302  # signed out
    assert browser.get("/").status_code == 302


@override_settings(SESSION_ENGINE="portal.sessions")
def test_signing_in_rotates_the_session_key_keeps_the_data_and_leaves_one_row(portal, contact):
    from django.contrib.sessions.models import Session

    browser = Client(HTTP_HOST="acme.localhost")
    session = browser.session
    session["kept"] = "across the sign-in"
    session.save()
    old_key = session.session_key
    user = UserFactory(portal=portal, email="alice@example.com")

    browser.force_login(user)

    new_key = browser.cookies["sessionid"].value
    assert new_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == [new_key]
    assert browser.session["kept"] == "across the sign-in"
    assert browser.get("/").status_code == 200  # signed in with the new key


@override_settings(SESSION_ENGINE="portal.sessions")
def test_a_new_sign_in_key_that_collides_is_refused_and_never_overwrites_that_session(portal, monkeypatch):
    """The sign-in's new key is not looked up first (a round trip each to Redis and PostgreSQL
    per login); the primary key does the refusing, so nobody's session is ever overwritten."""
    from importlib import import_module

    from django.contrib.sessions.backends.base import CreateError

    from portal import sessions

    store = import_module("portal.sessions").SessionStore
    victim = store()
    victim["_auth_user_id"] = "victim"
    victim.save()
    signing_in = store()
    signing_in["kept"] = "x"
    signing_in.save()
    monkeypatch.setattr(sessions, "get_random_string", lambda length, chars: victim.session_key)

    signing_in.cycle_key()
    with pytest.raises(CreateError):
        signing_in.save()

    assert store(session_key=victim.session_key).load() == {"_auth_user_id": "victim"}
