"""The Content-Security-Policy (portal.csp) in Chromium: the login, customer and admin pages work
under it with no violation, and an injected inline script does not run.

Every other browser journey also fails on a CSP console message (see ``Browser`` in conftest).
"""

import re

import pytest
from playwright.sync_api import expect

from portal.permissions import portal_staff_user_ensure
from tests.browser.conftest import PASSWORD
from tests.browser.test_admin_journey import admin_sign_in

pytestmark = pytest.mark.browser

STAFF_EMAIL = "staff@acme.example"


def test_login_page_keeps_its_brand_colour_under_the_policy(browser, world):
    world.portal.primary_colour = "#123456"
    world.portal.save(update_fields=["primary_colour"])
    page = browser.new_page()

    response = page.goto(world.at("/login/"))

    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    brand = page.evaluate("getComputedStyle(document.body).getPropertyValue('--brand').trim()")
    assert brand == "#123456"
    expect(page.get_by_role("link", name=re.compile("HaloPSA"))).to_be_visible()
    assert browser.csp_violations == []


def test_admin_pages_work_under_the_policy(browser, world):
    portal_staff_user_ensure(portal=world.portal, email=STAFF_EMAIL, password=PASSWORD, name="Acme staff")
    page = browser.new_page()
    admin_sign_in(page, world)

    for path in (
        "/admin/",
        "/admin/sso/ssoconfig/",
        "/admin/sso/ssoconfig/add/",
        f"/admin/sso/ssoconfig/{world.config.pk}/change/",
        "/admin/sso/ssoevent/",
        "/admin/portal/invoice/",
    ):
        response = page.goto(world.at(path))
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
    # The admin's own scripts still run: the collapsible fieldset opens.
    page.goto(world.at(f"/admin/sso/ssoconfig/{world.config.pk}/change/"))
    page.locator("summary", has_text="History").click()
    expect(page.locator("#id_created_at, .field-created_at").first).to_be_visible()
    assert browser.csp_violations == []


def test_an_injected_inline_script_does_not_run(browser, world):
    page = browser.new_page()
    page.goto(world.at("/login/"))

    page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';
        document.body.appendChild(s); }"""
    )

    assert page.evaluate("window.pwned") is None
    assert any("Content Security Policy" in v for v in browser.csp_violations)
    browser.csp_violations.clear()  # the violation was the point of this test
