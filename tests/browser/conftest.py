"""Browser journeys: Playwright for Python driving Debian's Chromium against a live portal and stand-in.

The portal is pytest-django's ``live_server`` (``http://localhost:<port>``, a transactional database);
the HaloPSA stand-in runs from ``tests/standin.py`` at ``http://127.0.0.1:<port>``, another host name,
so the two never share cookies. Other portals of a test answer on ``<name>.localhost:<port>`` (Chromium
resolves ``*.localhost`` to loopback itself).

Each test gets a fresh browser context (its own cookies and storage) in one Chromium started per run
with an empty temporary profile (Playwright's ``launch`` makes a new user-data-dir and removes it on
close). At the end of each test a screenshot of every open page goes to ``artifacts/screenshots/``;
when the test failed, the pages' HTML goes to ``artifacts/html/`` too. Every wait is bounded.

README screenshots: ``UPDATE_README_SCREENSHOTS=1 .venv/bin/pytest tests/browser`` rewrites
``docs/screenshots/*.png`` (1200x800) from the same journeys.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

# Playwright's sync API runs an asyncio loop in this thread: Django would refuse ORM calls from
# fixtures and tests as "async-unsafe". They are plain synchronous calls, so allow them.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest
from django.core.cache import cache
from django.utils import timezone

REPO_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_DIR / "artifacts"
SCREENSHOTS_DIR = ARTIFACTS_DIR / "screenshots"
HTML_DIR = ARTIFACTS_DIR / "html"
README_SCREENSHOTS_DIR = REPO_DIR / "docs" / "screenshots"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1200, "height": 800}
# Every Playwright wait is bounded: actions and expectations 10 s, navigations 15 s.
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000

PASSWORD = "correct-horse-battery"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _safe_name(nodeid: str) -> str:
    name = nodeid.split("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120]


def readme_screenshots_wanted() -> bool:
    return os.environ.get("UPDATE_README_SCREENSHOTS", "") not in ("", "0", "false")


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright_driver():
    if not Path(CHROMIUM).exists():
        reason = (
            f"Debian's Chromium is not installed at {CHROMIUM} (install it with `apt-get install chromium`; "
            "CI's .ci/run does)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)  # in CI a skipped journey would hide a broken set-up
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def chromium(playwright_driver):
    from playwright.sync_api import expect

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=NAVIGATION_TIMEOUT_MS
    )
    yield browser
    browser.close()


class Browser:
    """One test's browser: contexts (like separate browsers or private windows) that are cleaned up."""

    def __init__(self, chromium, request):
        self.chromium = chromium
        self.request = request
        self.contexts = []
        #: Console messages of the portal's pages that report a Content-Security-Policy violation.
        self.csp_violations: list[str] = []

    def _watch_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def new_context(self):
        context = self.chromium.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        context.on("console", self._watch_console)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        self.contexts.append(context)
        return context

    def new_page(self):
        return self.new_context().new_page()

    def pages(self):
        return [page for context in self.contexts for page in context.pages if not page.is_closed()]

    def save_artifacts(self) -> None:
        name = _safe_name(self.request.node.nodeid)
        report = getattr(self.request.node, "rep_call", None)
        failed = report is None or report.failed
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        for stale in HTML_DIR.glob(f"{name}*.html"):  # from an earlier failed run of this test
            stale.unlink()
        for index, page in enumerate(self.pages()):
            suffix = f"-{index + 1}" if index else ""
            try:
                page.screenshot(path=str(SCREENSHOTS_DIR / f"{name}{suffix}.png"), timeout=5_000)
            except Exception as exc:  # an artifact must never hide the test's own outcome
                print(f"[browser] no screenshot of page {index + 1}: {exc}")
            if failed:
                HTML_DIR.mkdir(parents=True, exist_ok=True)
                try:
                    html = f"<!-- {page.url} -->\n{page.content()}"
                    (HTML_DIR / f"{name}{suffix}.html").write_text(html, encoding="utf-8")
                except Exception as exc:
                    print(f"[browser] no HTML of page {index + 1}: {exc}")

    def close(self) -> None:
        for context in self.contexts:
            try:
                context.close()
            except Exception as exc:
                print(f"[browser] closing a context failed: {exc}")


@pytest.fixture
def browser(chromium, request):
    """The test's browser: ``browser.new_page()`` opens a page in a fresh context (no cookies)."""
    helper = Browser(chromium, request)
    yield helper
    helper.save_artifacts()
    helper.close()
    # Every journey doubles as a check of the portal's Content-Security-Policy (portal.csp).
    assert not helper.csp_violations, "\n".join(helper.csp_violations)


@pytest.fixture
def page(browser):
    return browser.new_page()


def shot(page, name: str) -> None:
    """A named screenshot of a step (``artifacts/screenshots/step-<name>.png``)."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS_DIR / f"step-{name}.png"))


def readme_shot(page, name: str) -> None:
    """A README screenshot (``docs/screenshots/<name>.png``), only with UPDATE_README_SCREENSHOTS=1."""
    shot(page, name)
    if readme_screenshots_wanted():
        README_SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS_DIR / f"step-{name}.png", README_SCREENSHOTS_DIR / f"{name}.png")


# --- the portal and the stand-in ---------------------------------------------------------------


@dataclass
class Person:
    email: str
    password: str
    name: str
    sub: str = ""


@dataclass
class World:
    """The Acme portal served by the live server, its HaloPSA config and the stand-in's people."""

    url: str  # http://localhost:<port>
    portal: object
    config: object
    standin: object
    alice: Person
    bob: Person
    acme: object
    globex: object
    acme_invoices: list
    globex_invoices: list

    def at(self, path: str) -> str:
        return f"{self.url}{path}"

    def portal_url(self, name: str, path: str = "") -> str:
        """Another portal on the same live server: ``http://<name>.localhost:<port><path>``."""
        port = self.url.rsplit(":", 1)[1]
        return f"http://{name}.localhost:{port}{path}"

    def register_client(self, config) -> None:
        """What an admin does in HaloPSA: register the config's login redirect URL (and logout URL)."""
        self.standin.add_client(
            config.client_id,
            redirect_uris=[config.callback_url],
            post_logout_redirect_uris=[config.logout_redirect_url] if config.logout_redirect_url else [],
        )


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(live_server, standin, settings) -> World:
    from tests.factories import (
        ContactFactory,
        CustomerFactory,
        InvoiceFactory,
        PortalFactory,
        SSOConfigFactory,
    )

    settings.SSO_ALLOW_INSECURE_HTTP = True
    portal = PortalFactory(
        name="Acme Managed IT", url=live_server.url, support_email="billing@acme-msp.example"
    )
    acme = CustomerFactory(portal=portal, name="Acme Ltd")
    ContactFactory(customer=acme, email="alice@example.com", name="Alice Anderson")
    globex = CustomerFactory(portal=portal, name="Globex Corp")
    ContactFactory(customer=globex, email="bob@example.com", name="Bob Brown")
    today = timezone.localdate()
    acme_invoices = [
        InvoiceFactory(customer=acme, number="INV-ACME-1001", total="1250.00"),
        InvoiceFactory(
            customer=acme,
            number="INV-ACME-1002",
            total="320.50",
            status="overdue",
            issued_on=today - datetime.timedelta(days=45),
            due_on=today - datetime.timedelta(days=15),
        ),
    ]
    globex_invoices = [InvoiceFactory(customer=globex, number="INV-GLOBEX-2001", total="999.00")]
    config = SSOConfigFactory(
        portal=portal,
        description="HaloPSA",
        issuer=standin.issuer,
        client_id=f"portal-{uuid.uuid4().hex[:10]}",
        tenant=standin.tenant,
        logout_redirect_url=standin.portal_url,
    )
    alice = Person("alice@example.com", PASSWORD, "Alice Anderson")
    bob = Person("bob@example.com", PASSWORD, "Bob Brown")
    for person in (alice, bob):
        person.sub = standin.add_user(person.email, person.password, person.name)["sub"]
    world = World(
        url=live_server.url,
        portal=portal,
        config=config,
        standin=standin,
        alice=alice,
        bob=bob,
        acme=acme,
        globex=globex,
        acme_invoices=acme_invoices,
        globex_invoices=globex_invoices,
    )
    world.register_client(config)
    return world


def returning_person(world: World, person: Person, *, config=None):
    """``person`` has verified their email on an earlier SSO login: their identity is linked.

    Made directly in the database (what ``accounts`` records when the mailed link is confirmed), so
    journeys about later logins need not repeat the first one.
    """
    from accounts.models import Identity, User

    config = config or world.config
    user = User.objects.filter(portal=world.portal, email=person.email).first() or User.objects.create_user(
        person.email, portal=world.portal, name=person.name
    )
    now = timezone.now()
    Identity.objects.update_or_create(
        portal=world.portal,
        issuer=config.issuer,
        sub=person.sub,
        defaults={
            "sso_config": config,
            "user": user,
            "email": person.email,
            "name": person.name,
            "verified_at": now,
            "last_login_at": now,
        },
    )
    return user


def sign_in_at_standin(page, world: World, person: Person) -> None:
    """Fill the stand-in's own sign-in form (the page must be showing it)."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Sign in to HaloPSA")).to_be_visible()
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def standin_session(page, world: World, person: Person) -> None:
    """Sign ``page``'s browser in at the stand-in itself, as a person using HaloPSA's portal."""
    from playwright.sync_api import expect

    page.goto(f"{world.standin.base_url}/login/?next=/portal/")
    sign_in_at_standin(page, world, person)
    expect(page.locator("#signed-in-email")).to_have_text(person.email)
