"""Code sign-in while the cache (Redis) is down: the rate limits cannot be counted, so they fail
safe (a "try again in a minute" page), never unlimited and never a 500."""

import pytest
from django.core import mail

from accounts.models import LoginCode
from tests.accounts.helpers import code_from
from tests.cachedown import redis_cache_down

pytestmark = pytest.mark.django_db


def test_code_request_with_the_cache_down_is_refused_with_try_again_in_a_minute(client, contact):
    with redis_cache_down():
        response = client.post("/login/", {"email": "alice@example.com"})
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert b"try again in a minute" in response.content
    assert not LoginCode.objects.exists() and mail.outbox == []


def test_code_guess_with_the_cache_down_is_not_checked(client, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/login/", {"email": "alice@example.com"}).status_code == 302
    code = code_from(mail.outbox[0])  # the right code: still refused while nothing can be counted
    with redis_cache_down():
        response = client.post("/login/code/", {"code": code})
    assert response.status_code == 429 and b"try again in 1 minute" in response.content
    assert "_auth_user_id" not in client.session


def test_admin_password_sign_in_with_the_cache_down_is_refused_not_unlimited(client, portal):
    from tests.factories import UserFactory

    staff = UserFactory(portal=portal, email="staff@acme.example", is_staff=True)
    staff.set_password("a-long-pass-phrase")
    staff.save()
    with redis_cache_down():
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": "staff@acme.example", "password": "a-long-pass-phrase", "next": "/admin/"},
        )
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
