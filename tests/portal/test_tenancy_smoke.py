import pytest


@pytest.mark.django_db
def test_unknown_host_gets_a_404_page(client):
    response = client.get("/login/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert b"Portal not found" in response.content


def test_known_host_serves_its_login_page(client, portal):
    response = client.get("/login/")
    assert response.status_code == 200
    assert response.context["portal"] == portal


@pytest.mark.django_db
def test_healthz_answers_on_any_host(client):
    response = client.get("/healthz", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_a_load_balancer_probing_by_ip(client):
    response = client.get("/healthz", HTTP_HOST="10.0.0.5:8000")  # not in ALLOWED_HOSTS

    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"
