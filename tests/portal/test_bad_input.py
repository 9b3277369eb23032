"""Bad input of any kind is a clear 4xx page (or a redirect), never a 500."""

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/invoices/abc/",
        "/invoices/-1/",
        "/invoices/99999999999999999999/",
        "/invoices/?page=abc&status=%00&sort=;drop",
        "/sso/%00/login/",
        "/sso/" + "k" * 300 + "/login/",
        "/sso/x/login/?next=" + "a" * 5000,
        "/callback",
        "/callback?iss=&iss=&state=%ff",
        "/callback?iss=x&code=" + "c" * 5000 + "&state=s",
        "/accounts/verify/%ff%fe/",
        "/accounts/verify/" + "t" * 1000 + "/",
        "/accounts/check-email/",
        "/login/code/",
        "/logout/",
        "/no/such/page/",
    ],
)
def test_get_requests_never_fail_with_a_server_error(client, portal, user, path):
    for signed_in in (False, True):
        if signed_in:
            client.force_login(user)
        response = client.get(path)
        assert response.status_code < 500, (path, signed_in, response.status_code)


@pytest.mark.parametrize(
    "data",
    [
        {"email": "x" * 100_000},
        {"email": "not an email"},
        {"email": ["a@example.com", "b@example.com"]},
        {f"field{i}": "x" for i in range(500)},
    ],
)
def test_oversized_or_odd_form_posts_are_refused_cleanly(client, portal, data):
    response = client.post("/login/", data)

    assert response.status_code < 500


def test_a_forged_host_header_is_a_400(client, db):
    response = client.get("/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/admin/portal/invoice/?q=%00",
        "/admin/portal/invoice/?status__exact=%00",
        "/admin/sso/ssoevent/?reason=%00",
        "/admin/portal/invoice/%00/change/",
        "/invoices/?status=open%00",
        "/invoices/%00/",
        "/accounts/verify/%00%00%00/",
        "/callback?iss=abc-halopsa-def&error=bad%00&state=x",
    ],
)
def test_nul_bytes_in_urls_are_a_400_for_admins_too(client, portal, django_user_model, url):
    client.force_login(django_user_model.objects.create_superuser("root@example.com", "pw"))

    response = client.get(url)

    assert response.status_code == 400
    assert response["Referrer-Policy"] == "no-referrer"  # the URL may hold a code or a token
