"""Issue 8 item 8a in a real browser: the code and token URLs never leave as a Referer.

Chromium is asked for the callback page (holding ``code`` and ``state``) and goes through a first
sign-in to the verification link (holding the token). Every request it makes is recorded with
its Referer; the only request allowed to carry such a URL is the verification form posting back
to that same URL (Django's CSRF check needs its Origin/Referer).
"""

import re

import pytest
from playwright.sync_api import expect

from portal.devmail import devmail_messages
from tests.browser.conftest import sign_in_at_standin
from tests.browser.test_customer_journeys import SSO_BUTTON, dev_mailbox  # noqa: F401

pytestmark = pytest.mark.browser

SECRET_URL = re.compile(r"code=|/accounts/verify/[^/]+/")


def record_referers(page) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    page.on("request", lambda r: seen.append((r.method, r.url, r.headers.get("referer", ""))))
    return seen


def leaks(seen) -> list[tuple[str, str, str]]:
    return [
        (method, url, referer)
        for method, url, referer in seen
        if SECRET_URL.search(referer) and not (method == "POST" and url == referer)
    ]


def test_the_callback_page_sends_its_url_nowhere(browser, world):
    page = browser.new_page()
    seen = record_referers(page)

    page.goto(world.at(f"/callback?iss={world.config.key}&code=secret-code&state=some-state"))
    expect(page.get_by_role("link", name="Back to the login page")).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert any(url.endswith(".css") for _, url, _ in seen)
    assert leaks(seen) == []


def test_the_verification_link_sends_its_token_nowhere_and_still_signs_in(browser, world, dev_mailbox):  # noqa: F811
    page = browser.new_page()
    seen = record_referers(page)
    page.goto(world.at("/login/"))
    page.get_by_role("link", name=SSO_BUTTON).click()
    sign_in_at_standin(page, world, world.alice)
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    [message] = devmail_messages()
    link = re.search(r"https?://\S+/accounts/verify/\S+/", message.text).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Confirm and sign in").click()

    expect(page).to_have_url(world.at("/"))
    assert any(url.endswith(".css") and referer == "" for _, url, referer in seen)
    assert leaks(seen) == []
