"""Issue 8 item 8a: pages whose URL carries a code or token send it in no Referer.

base.html's ``<meta name="referrer">`` overrides the Referrer-Policy header, so a meta saying
same-origin let the callback's ``?code=…&state=…`` and the verification token go out as Referer on
the stylesheet request. The callback page says no-referrer in header and meta; the verification
page (whose form must post back with an Origin for the CSRF check) keeps same-origin for that
POST while its stylesheet and logo are fetched with no Referer. tests/browser/test_referrer.py
watches the actual requests in Chromium.
"""

import re

import pytest

from tests.factories import SSOConfigFactory

pytestmark = pytest.mark.django_db

META = re.compile(rb'<meta name="referrer" content="([^"]*)">')


def _policies(response) -> tuple[str, list[bytes]]:
    return response["Referrer-Policy"], META.findall(response.content)


def test_the_callback_page_sends_no_referrer(client, portal):
    config = SSOConfigFactory(portal=portal)

    response = client.get(f"/callback?iss={config.key}&code=one-time-code&state=some-state")

    assert response.status_code == 400  # the state is not pending: a refusal page, on the code's URL
    assert b"portal.css" in response.content
    assert _policies(response) == ("no-referrer", [b"no-referrer"])


def test_the_verification_link_page_fetches_its_subresources_without_referrer(client, portal):
    response = client.get("/accounts/verify/not-a-real-token-but-a-token-shaped-url/")

    assert response["Referrer-Policy"] == "no-referrer"
    assert re.search(
        rb'<link rel="stylesheet" href="[^"]*portal\.css" referrerpolicy="no-referrer">', response.content
    )


def test_other_pages_keep_same_origin(client, portal):
    response = client.get("/login/")

    assert _policies(response) == ("same-origin", [b"same-origin"])
