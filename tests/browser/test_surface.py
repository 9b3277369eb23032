"""The demo's and the admin's surface in a real browser (issue 10, item 4).

Readable outcome colours in light and dark admin themes, SSO lists that fit at 1280 px, the
portal's own 404 page with DEBUG on, long emails that wrap; and (for every browser test) no
console errors, which the ``browser`` fixture asserts.
"""

import re

import pytest
from playwright.sync_api import expect

from portal.permissions import portal_staff_user_ensure
from sso.events import sso_event_record
from sso.models import SSOEvent
from tests.browser.conftest import PASSWORD, returning_person, shot, sign_in_at_standin
from tests.browser.test_admin_journey import STAFF_EMAIL, admin_sign_in

pytestmark = pytest.mark.browser

LONG_FAILURE = (
    "Token exchange failed: the provider answered invalid_client for client ID "
    "portal-acme-production-0123456789abcdef at https://acme.halopsa.example/auth/token/with/a/very/long/path"
    "/that/does/not/break/anywhere/naturally?and=a&query=string — check the client secret in HaloPSA."
)


def _contrast_js() -> str:
    """JS: the contrast ratio of an element's text colour against its own background colour."""
    return """el => {
      const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
      const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const style = getComputedStyle(el);
      const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
      return (a + 0.05) / (b + 0.05);
    }"""


def _events(world):
    for outcome, reason, message in [
        (SSOEvent.Outcome.SUCCESS, "", "Signed in."),
        (SSOEvent.Outcome.VERIFY, "", "Verification email sent."),
        (SSOEvent.Outcome.FAILURE, "invalid_client", LONG_FAILURE),
    ]:
        sso_event_record(
            portal=world.portal,
            config=world.config,
            outcome=outcome,
            reason=reason,
            message=message,
            email="alice@example.com",
        )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_outcomes_are_readable_in_light_and_dark_admin_themes(browser, world, scheme):
    portal_staff_user_ensure(portal=world.portal, email=STAFF_EMAIL, password=PASSWORD, name="Acme staff")
    _events(world)
    page = browser.new_context(color_scheme=scheme).new_page()
    admin_sign_in(page, world)
    page.goto(world.at(f"/admin/sso/ssoconfig/{world.config.pk}/change/"))
    outcomes = page.locator(".sso-events .sso-outcome")
    expect(outcomes).to_have_count(3)
    expect(page.locator(".sso-events")).to_contain_text("Signed in")
    for index in range(3):
        badge = outcomes.nth(index)
        expect(badge).to_be_visible()
        ratio = badge.evaluate(_contrast_js())
        assert ratio >= 4.5, f"{badge.inner_text()} has contrast {ratio:.2f} in the {scheme} theme"
    page.goto(world.at("/admin/sso/ssoevent/"))
    for index in range(3):
        badge = page.locator("#result_list .sso-outcome").nth(index)
        assert badge.evaluate(_contrast_js()) >= 4.5
    shot(page, f"admin-outcomes-{scheme}")


def _fits(page, selector: str) -> None:
    """Every cell matching ``selector`` lies inside the list's visible box: nothing hides to the right.

    (The admin's ``.results`` box scrolls sideways when its table is wider; a couple of pixels of
    table border are tolerated, a clipped column is not.)
    """
    cells = page.locator(selector)
    expect(cells.first).to_be_visible()
    visible = page.locator(".results").bounding_box()
    for index in range(cells.count()):
        box = cells.nth(index).bounding_box()
        assert box["x"] >= visible["x"] and box["x"] + box["width"] <= visible["x"] + visible["width"] + 3, (
            selector,
            index,
            box,
            visible,
        )
    scrolls = page.evaluate(
        "[...document.querySelectorAll('.results, #content, html')].filter(e => e.scrollWidth > e.clientWidth + 4)"
        ".map(e => [e.className || e.id || e.tagName, e.scrollWidth, e.clientWidth])"
    )
    assert scrolls == [], f"scrolls sideways: {scrolls}"


def test_sso_lists_fit_at_1280_px(browser, world):
    portal_staff_user_ensure(portal=world.portal, email=STAFF_EMAIL, password=PASSWORD, name="Acme staff")
    _events(world)
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    admin_sign_in(page, world)
    page.goto(world.at("/admin/sso/ssoevent/"))
    message = page.locator(
        "#result_list td.field-short_message", has_text="check the client secret in HaloPSA"
    )
    expect(message).to_be_visible()
    expect(message).to_contain_text(LONG_FAILURE)  # whole, not cut off
    _fits(page, "#result_list td.field-short_message")
    shot(page, "admin-event-list-1280")
    page.goto(world.at("/admin/sso/ssoconfig/"))
    _fits(page, "#result_list td, #result_list th")
    shot(page, "admin-config-list-1280")


def test_a_customer_gets_the_portal_404_with_debug_on(browser, world, settings):
    settings.DEBUG = True  # what the demo runs with
    returning_person(world, world.alice)
    page = browser.new_page()
    page.goto(world.at("/login/"))
    page.get_by_role("link", name="HaloPSA").click()
    sign_in_at_standin(page, world, world.alice)
    expect(page).to_have_url(re.compile(r"/$"))
    for path in (f"/invoices/{world.globex_invoices[0].pk}/", "/no/such/page/"):
        response = page.goto(world.at(path))
        assert response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(page.get_by_text(re.compile("URLconf|Django tried|DEBUG = True"))).to_have_count(0)
        expect(page.locator(".site-header")).to_contain_text("Acme Managed IT")
    shot(page, "customer-404-debug")


@pytest.mark.parametrize("viewport", [{"width": 1200, "height": 800}, {"width": 375, "height": 740}])
def test_a_long_email_wraps_instead_of_stretching_the_page(browser, world, viewport):
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + ".example.com"
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(world.at("/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_text(email)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"long-email-{viewport['width']}")
