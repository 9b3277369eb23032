"""A customer's journeys in a real browser (issue 5, 3a-3e): first SSO login with the mailed link,
returning login, HaloPSA custom-link deep login, logout through HaloPSA, email-code login."""

import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import expect

from portal.devmail import devmail_messages
from tests.browser.conftest import readme_shot, returning_person, shot, sign_in_at_standin, standin_session
from tests.factories import PortalFactory, SSOConfigFactory

pytestmark = pytest.mark.browser

SSO_BUTTON = re.compile(r"HaloPSA")
# Pages that ask the person for something: either side's sign-in form, "check your email", the code.
PROMPT_PATHS = {"/login/", "/login/code/", "/accounts/check-email/"}


def track_navigations(page) -> list[str]:
    """Every URL the page's main frame lands on, redirects included, to prove "no prompt at all"."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url) if r.is_navigation_request() else None)
    return urls


def expect_dashboard_of_acme(page, world) -> None:
    expect(page).to_have_url(world.at("/"))
    expect(page.get_by_role("heading", name=re.compile(r"^Welcome"))).to_be_visible()
    for invoice in world.acme_invoices:
        expect(page.get_by_text(invoice.number)).to_be_visible()
    body = page.content()
    for invoice in world.globex_invoices:
        assert invoice.number not in body
    assert "Globex" not in body


@pytest.fixture
def dev_mailbox(settings, tmp_path):
    """The demo's set-up: DEBUG on and mail kept for /dev/mailbox/ (the live server shares settings)."""
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "portal.devmail.DevMailboxBackend"
    settings.DEVMAIL_DIR = str(tmp_path / "devmail")
    return tmp_path / "devmail"


def test_a_new_person_confirms_their_email_and_sees_only_their_invoices(browser, world, dev_mailbox):
    page = browser.new_page()
    page.goto(world.at("/login/"))
    expect(page.get_by_role("heading", name="Sign in to Acme Managed IT")).to_be_visible()
    readme_shot(page, "login")

    page.get_by_role("link", name=SSO_BUTTON).click()
    expect(page).to_have_url(re.compile(re.escape(world.standin.base_url)))
    sign_in_at_standin(page, world, world.alice)

    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(
        page.locator("main strong", has_text=re.compile(r"^a\S*\*\S*@example\.com$"))
    ).to_be_visible()  # masked
    assert "alice@example.com" not in page.locator("main").inner_text()
    readme_shot(page, "check-email")
    # Not signed in yet: the dashboard still sends this browser to the login page.
    page.goto(world.at("/"))
    expect(page).to_have_url(re.compile(r"/login/"))

    # Open the mail in the dev mailbox and follow its link.
    [message] = devmail_messages()
    assert message.to == ["alice@example.com"]
    page.goto(world.at("/dev/mailbox/"))
    page.get_by_role("link", name=message.subject).click()
    expect(page.get_by_role("heading", name=message.subject)).to_be_visible()
    shot(page, "mailbox-message")
    page.locator("pre.mail-text a", has_text="/accounts/verify/").click()

    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    page.get_by_role("button", name="Confirm and sign in").click()

    expect_dashboard_of_acme(page, world)
    readme_shot(page, "dashboard")
    page.get_by_role("link", name="Invoices", exact=True).click()
    for invoice in world.acme_invoices:
        expect(page.get_by_role("link", name=invoice.number)).to_be_visible()
    assert world.globex_invoices[0].number not in page.content()
    page.goto(world.at(f"/invoices/{world.globex_invoices[0].pk}/"))
    expect(page.get_by_role("heading", name=re.compile("not found", re.I))).to_be_visible()
    assert len(devmail_messages()) == 1


def test_b_a_returning_person_goes_straight_in(browser, world):
    returning_person(world, world.alice)
    page = browser.new_page()
    page.goto(world.at("/login/"))
    page.get_by_role("link", name=SSO_BUTTON).click()
    sign_in_at_standin(page, world, world.alice)
    expect_dashboard_of_acme(page, world)
    assert mail.outbox == []


def test_c_deep_login_from_halopsa_lands_on_the_invoice_without_a_prompt(browser, world):
    returning_person(world, world.alice)
    invoice = world.acme_invoices[1]
    login_url = f"{world.config.login_url}?next=/invoices/{invoice.pk}/"
    label = f"Billing {uuid.uuid4().hex[:6]}"
    world.standin.add_link(label, login_url)  # what the admin adds under HaloPSA's portal custom links

    page = browser.new_page()
    standin_session(page, world, world.alice)  # already signed in to HaloPSA
    page.goto(f"{world.standin.base_url}/portal/")
    navigations = track_navigations(page)
    page.get_by_role("link", name=label).click()

    expect(page).to_have_url(world.at(f"/invoices/{invoice.pk}/"))
    expect(page.get_by_role("heading", name=re.compile(f"Invoice {invoice.number}"))).to_be_visible()
    prompts = [url for url in navigations if urlsplit(url).path in PROMPT_PATHS]
    assert prompts == [], f"a prompt was shown on the way: {navigations}"
    assert mail.outbox == []

    # Opening the SSO login URL itself works the same (a bookmarked link).
    page.goto(login_url)
    expect(page).to_have_url(world.at(f"/invoices/{invoice.pk}/"))


def test_d_logout_ends_at_the_logout_redirect_url_and_signs_out_of_halopsa(browser, world):
    returning_person(world, world.alice)
    page = browser.new_page()
    page.goto(world.at("/login/"))
    page.get_by_role("link", name=SSO_BUTTON).click()
    sign_in_at_standin(page, world, world.alice)
    expect_dashboard_of_acme(page, world)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(world.config.logout_redirect_url)
    expect(page.locator("#signed-out")).to_be_visible()  # the stand-in's session is gone too

    page.goto(world.at("/"))
    expect(page).to_have_url(re.compile(r"/login/"))
    page.goto(world.config.login_url)  # a new SSO login must ask for the HaloPSA password again
    expect(page.get_by_role("heading", name="Sign in to HaloPSA")).to_be_visible()


def test_e_sso_only_portal_has_no_code_form_and_code_login_works_elsewhere(browser, world):
    sso_only = PortalFactory(name="Initech", url=world.portal_url("initech"), sso_only=True)
    initech_config = SSOConfigFactory(
        portal=sso_only,
        description="HaloPSA",
        issuer=world.standin.issuer,
        client_id=f"initech-{uuid.uuid4().hex[:8]}",
        tenant=world.standin.tenant,
    )
    world.register_client(initech_config)

    page = browser.new_page()
    page.goto(world.portal_url("initech", "/login/"))
    expect(page.get_by_role("heading", name="Sign in to Initech")).to_be_visible()
    expect(page.get_by_role("link", name=SSO_BUTTON)).to_be_visible()
    expect(page.locator("input[type=email]")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("code", re.I))).to_have_count(0)
    shot(page, "sso-only-login")

    # The Acme portal allows codes: ask for one, read the mail, enter it.
    page.goto(world.at("/login/"))
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_label(re.compile("code", re.I))).to_be_visible()
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    code = re.search(r"^\s*(\d{6})\s*$", message.body, re.M).group(1)
    page.get_by_label(re.compile("code", re.I)).fill(code)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect_dashboard_of_acme(page, world)


def test_f_a_link_opened_on_another_device_asks_for_halopsa_there(browser, world, dev_mailbox):
    laptop = browser.new_page()
    laptop.goto(world.at("/login/?next=/invoices/"))
    laptop.get_by_role("link", name=SSO_BUTTON).click()
    sign_in_at_standin(laptop, world, world.alice)
    expect(laptop.get_by_role("heading", name="Check your email")).to_be_visible()
    [message] = devmail_messages()
    link = re.search(r"http://\S+/accounts/verify/[A-Za-z0-9_-]+/", message.text).group(0)

    phone = browser.new_page()  # another browser context: another device, no cookies of the laptop
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Confirm your email")).to_be_visible()
    expect(phone.locator("#verify-what")).to_contain_text("A sign-in through HaloPSA as Alice Anderson at")
    expect(phone.get_by_role("button", name="Confirm and sign in")).to_have_count(0)
    expect(phone.get_by_role("button", name="This wasn't me")).to_be_visible()
    shot(phone, "verify-other-device")
    phone.get_by_role("button", name="Continue with HaloPSA").click()
    sign_in_at_standin(phone, world, world.alice)

    expect(phone).to_have_url(world.at("/invoices/"))
    for invoice in world.acme_invoices:
        expect(phone.get_by_role("link", name=invoice.number)).to_be_visible()
    assert len(devmail_messages()) == 1  # the phone proved the same HaloPSA identity: no second mail
    laptop.goto(world.at("/"))
    expect(laptop).to_have_url(re.compile(r"/login/"))  # the laptop itself was not signed in
