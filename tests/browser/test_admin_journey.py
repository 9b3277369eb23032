"""The admin's journey in a real browser (issue 5, 3f): a portal staff user sets up HaloPSA sign-in.

Create a config in the Django admin, copy its URLs (and register them at the stand-in, as the admin
would paste them into HaloPSA), run Test connection, Try sign-in in a new tab while staying signed in
to the admin, hide the button, disable the config.
"""

import re

import pytest
from playwright.sync_api import expect

from portal.permissions import portal_staff_user_ensure
from sso.models import SSOConfig
from tests.browser.conftest import PASSWORD, readme_shot, shot, sign_in_at_standin

pytestmark = pytest.mark.browser

STAFF_EMAIL = "staff@acme.example"
BUTTON_LABEL = "Acme HaloPSA"


def admin_sign_in(page, world) -> None:
    page.goto(world.at("/admin/"))
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.locator("#id_username").fill(STAFF_EMAIL)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def save_and_continue(page) -> None:
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist .success")).to_be_visible()


def copied_text(page, button_name: str) -> str:
    page.get_by_role("button", name=button_name).click()
    expect(
        page.get_by_role("button", name=button_name).locator("xpath=..").locator(".sso-copy__status")
    ).to_have_text("Copied.")
    return page.evaluate("navigator.clipboard.readText()")


def test_f_admin_sets_up_tests_tries_hides_and_disables_a_config(browser, world):
    world.config.delete()  # start from a portal with no SSO config: the admin makes it
    portal_staff_user_ensure(portal=world.portal, email=STAFF_EMAIL, password=PASSWORD, name="Acme staff")
    admin = browser.new_context()
    admin.grant_permissions(["clipboard-read", "clipboard-write"], origin=world.url)
    page = admin.new_page()
    admin_sign_in(page, world)

    # Create the config.
    page.goto(world.at("/admin/sso/ssoconfig/add/"))
    page.locator("#id_description").fill(BUTTON_LABEL)
    page.locator("#id_issuer").fill(world.standin.issuer)
    page.locator("#id_client_id").fill("acme-portal-admin")
    page.locator("#id_tenant").fill(world.standin.tenant)
    page.locator("#id_logout_redirect_url").fill(world.standin.portal_url)
    expect(page.get_by_text("Test it, then enable it")).to_be_visible()
    save_and_continue(page)
    config = SSOConfig.objects.get(portal=world.portal)
    assert not config.enabled and config.show_button  # not live until a test passed

    # Its URLs, shown and copyable.
    expect(page.locator("#sso-callback-url")).to_have_text(config.callback_url)
    expect(page.locator("#sso-login-url")).to_have_text(config.login_url)
    page.locator("#sso-callback-url").evaluate("el => el.closest('fieldset').scrollIntoView()")
    readme_shot(page, "sso-config-admin")
    callback_url = copied_text(page, "Copy the login redirect URL")
    login_url = copied_text(page, "Copy the SSO login URL")
    assert (callback_url, login_url) == (config.callback_url, config.login_url)
    # "Paste them into HaloPSA": register the copied redirect URL at the stand-in.
    world.standin.add_client(
        "acme-portal-admin",
        redirect_uris=[callback_url],
        post_logout_redirect_uris=[world.standin.portal_url],
    )

    # Test connection.
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".sso-report__summary")).to_contain_text("Passed")
    shot(page, "admin-test-connection")
    page.get_by_role("link", name=re.compile(f"Back to .{BUTTON_LABEL}")).click()
    # The test passed: enabling it needs no confirmation.
    expect(page.locator(".field-test_status")).to_contain_text("Passed")
    page.get_by_label("Enabled", exact=True).check()
    save_and_continue(page)
    config.refresh_from_db()
    assert config.enabled

    # Try sign-in opens a new tab; the admin signs in at HaloPSA there and sees the claims.
    with admin.expect_page(timeout=10_000) as new_tab:
        page.get_by_role("link", name="Try sign-in").click()
    tab = new_tab.value
    sign_in_at_standin(tab, world, world.alice)
    expect(tab.get_by_role("heading", name=f"Try sign-in: {BUTTON_LABEL}")).to_be_visible()
    expect(tab.get_by_text("All checks passed")).to_be_visible()
    claims = tab.locator("#content-main table").first
    expect(claims.get_by_role("row", name=re.compile(r"^email"))).to_contain_text(world.alice.email)
    expect(claims.get_by_role("row", name=re.compile(r"^sub"))).to_contain_text(world.alice.sub)
    expect(tab.get_by_text(re.compile(r"A contact on .*Acme Managed IT"))).to_be_visible()
    shot(tab, "admin-try-sign-in")
    tab.close()
    # Still signed in to the admin, as the staff user.
    page.reload()
    expect(page.locator("#sso-login-url")).to_have_text(config.login_url)
    expect(page.locator("#user-tools")).to_contain_text(re.compile("acme staff|staff@acme.example", re.I))

    # Another browser (a customer's) sees the button on the login page ...
    visitor = browser.new_page()
    visitor.goto(world.at("/login/"))
    expect(visitor.get_by_role("link", name=re.compile(BUTTON_LABEL))).to_be_visible()

    # ... until the admin turns the button off.
    page.get_by_label("show button on login page", exact=False).uncheck()
    save_and_continue(page)
    visitor.reload()
    expect(visitor.get_by_role("heading", name=re.compile("Sign in"))).to_be_visible()
    expect(visitor.get_by_role("link", name=re.compile(BUTTON_LABEL))).to_have_count(0)
    # The SSO login URL (e.g. a HaloPSA custom link) still starts a sign-in.
    response = visitor.request.get(config.login_url, max_redirects=0)
    assert response.status == 302

    # Disabled: the login URL refuses with a page that says so.
    page.get_by_label("Enabled", exact=True).uncheck()
    save_and_continue(page)
    response = visitor.goto(config.login_url)
    assert response.status == 403
    expect(visitor.get_by_text(re.compile("turned off", re.I))).to_be_visible()
    shot(visitor, "admin-disabled-config-refuses")
