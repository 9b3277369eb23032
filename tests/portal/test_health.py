"""``/healthz``: 200 while the database answers, ``degraded`` naming a failing cache or broker."""

import socket

import pytest
from django.test import override_settings

from tests.celery_worker import configured

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_redis_cache():
    """The default cache pointed at a Redis that refuses connections (Redis down)."""
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{closed_port()}/8",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    with override_settings(CACHES={"default": dead}):  # Django's setting_changed resets the caches
        yield


def test_all_parts_ok(client):
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "broker": "inline",
        "failing": [],
    }


def test_cache_down_is_degraded_but_200_and_strict_503(client, dead_redis_cache):
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["failing"] == ["cache"]
    assert client.get("/healthz?strict=1", HTTP_HOST="10.0.0.5:8000").status_code == 503


def test_broker_down_is_degraded_but_200_and_strict_503(client):
    with configured(broker_url=f"redis://127.0.0.1:{closed_port()}/8", task_always_eager=False):
        response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
        strict = client.get("/healthz?strict=1", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["broker"] == "unavailable"
    assert response.json()["failing"] == ["broker"]
    assert strict.status_code == 503


def test_database_down_is_503(client, monkeypatch):
    from django.db import OperationalError

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("portal.health.connection.cursor", refuse)
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")
    assert response.status_code == 503 and response.json()["status"] == "error"
