"""``/healthz``: 200 while the database answers, ``degraded`` naming a failing cache or broker."""

import socket

import pytest

from tests.cachedown import redis_cache_down
from tests.celery_worker import configured

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_redis_cache():
    with redis_cache_down():
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
