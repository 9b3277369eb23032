"""A returning SSO login's writes, the new session row among them, commit once, or not at all."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from sso import views
from sso.models import SSOEvent

pytestmark = pytest.mark.django_db(transaction=True)  # real commits, so on-commit work runs


@pytest.fixture
def cached_sessions(redis_cache, settings):
    settings.SESSION_ENGINE = "portal.sessions"  # as in production whenever the cache is Redis
    return redis_cache


def test_the_new_session_row_commits_with_the_sign_in_and_is_written_once(
    cached_sessions, journey, client, sso_config, returning_alice
):
    journey.login(sso_config)  # the first fetches and keeps the provider's keys
    client.logout()
    callback = journey.authorize(journey.start(sso_config))

    with CaptureQueriesContext(connection) as queries:
        response = journey.callback(callback)

    assert response.status_code == 302 and response["Location"] == "/"
    sql = [q["sql"] for q in queries.captured_queries]
    session_writes = [n for n, s in enumerate(sql) if "django_session" in s and not s.startswith("SELECT")]
    assert sql.count("COMMIT") == 1
    begin, commit = sql.index("BEGIN"), sql.index("COMMIT")
    assert len(session_writes) == 1 and begin < session_writes[0] < commit  # inserted once, inside
    locked = [n for n, s in enumerate(sql) if s.endswith('FOR UPDATE OF "accounts_identity"')]
    assert len(locked) == 1 and begin < locked[0] < commit  # the identity row, and only it, locked
    assert 'JOIN "accounts_user"' in sql[locked[0]]  # its user read with it
    key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()
    assert cached_sessions.get(f"django.contrib.sessions.cached_db{key}")[SESSION_KEY] == str(
        returning_alice.pk
    )  # cached on commit
    assert client.get("/").status_code == 200


def test_a_sign_in_that_fails_after_its_session_row_leaves_no_session_anywhere(
    cached_sessions, journey, client, sso_config, returning_alice, monkeypatch
):
    real = views.session_save_in_transaction

    def save_then_fail(session):
        real(session)
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(views, "session_save_in_transaction", save_then_fail)
    response = journey.login(sso_config)

    assert response.status_code == 502  # "unexpected error": refused, not a 500
    assert [s for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY)] == []
    redis = cached_sessions._cache.get_client(write=False)
    assert [k for k in redis.keys("*") if b"sessions" in k] == []  # nothing cached on a rollback
    assert not SSOEvent.objects.filter(outcome=SSOEvent.Outcome.SUCCESS).exists()
    assert not AuditEvent.objects.filter(kind="signed_in").exists()
    assert client.get("/").status_code == 302  # not signed in
