"""Preparing the demo's data on both sides. Every step is idempotent: ``make run`` runs them each start.

The portal side runs in this process through Django's ORM (portal settings); the stand-in is another
Django project, so it is migrated and seeded through its management commands in subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent

PORTAL_HOST = "acme.localhost"
PORTAL_PORT = 8000
PORTAL_URL = f"http://{PORTAL_HOST}:{PORTAL_PORT}"
STANDIN_HOST = "127.0.0.1"
STANDIN_PORT = 8001
STANDIN_URL = f"http://{STANDIN_HOST}:{STANDIN_PORT}"
ISSUER = f"{STANDIN_URL}/auth"
STANDIN_PORTAL_PAGE = f"{STANDIN_URL}/portal/"
CLIENT_ID = "portal-demo"
TENANT = "demo"
STRIPE_PORT = 8420
STRIPE_URL = f"http://127.0.0.1:{STRIPE_PORT}"
STRIPE_JS_URL = f"{STRIPE_URL}/js.stripe.com/v3/"
# localstripe accepts any key of the right shape; these are the demo's, not secrets of anyone's.
STRIPE_SECRET_KEY = "sk_test_demo_localstripe"
STRIPE_PUBLISHABLE_KEY = "pk_test_demo_localstripe"
STRIPE_WEBHOOK_SECRET = "whsec_demo_localstripe"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin"
# A portal staff user: admin access to the Acme portal only (the "Portal administrators" group).
STAFF_EMAIL = "staff@acme.example"
STAFF_PASSWORD = "staff"

# (email, password, name, who they are in the demo)
STANDIN_USERS = [
    ("alice@example.com", "alice", "Alice Anderson", "a contact of Acme Ltd: sees Acme's invoices"),
    ("bob@example.com", "bob", "Bob Brown", "a contact of Globex Corp: sees only Globex's invoices"),
    ("mallory@example.com", "mallory", "Mallory", "no contact anywhere: sees no invoices"),
]


# The stand-in's API application for the sync (client credentials), made by ``standin_api seed-demo``.
API_CLIENT_ID = "portal-sync"
API_CLIENT_SECRET = "portal-sync-secret"


@dataclass(frozen=True)
class DemoConfig:
    key: str
    callback_url: str
    login_url: str
    webhook_url: str = ""
    webhook_username: str = ""
    webhook_secret: str = ""


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def prepare_portal() -> DemoConfig:
    """Migrate, seed the demo portal, make its HaloPSA SSO config and an admin. Needs django.setup()."""
    from django.core.management import call_command, get_commands

    _say("migrating the portal database (db.sqlite3)")
    call_command("migrate", interactive=False, verbosity=0)

    if "seed_demo" in get_commands():
        call_command("seed_demo", url=PORTAL_URL)
    else:
        _say("WARNING: no seed_demo command yet; making a bare Acme portal instead")
        _bare_portal()

    from portal.models import Contact, Portal

    portal = Portal.objects.get(host=PORTAL_HOST)
    if not Contact.objects.filter(customer__portal=portal, email__iexact="alice@example.com").exists():
        _say("WARNING: alice@example.com is not a contact on the demo portal; her SSO login will see no data")

    config = _sso_config(portal)
    connection = _halo_connection(portal)
    _admin_user()
    _staff_user(portal)
    return DemoConfig(
        key=config.key,
        callback_url=config.callback_url,
        login_url=config.login_url,
        webhook_url=connection.webhook_url,
        webhook_username=connection.webhook_username,
        webhook_secret=connection.webhook_secret,
    )


def _halo_connection(portal):
    """The demo portal's HaloPSA API connection to the stand-in (API URL derived from the SSO issuer)."""
    from halo.services import halo_connection_connect

    connection = halo_connection_connect(
        portal=portal, client_id=API_CLIENT_ID, client_secret=API_CLIENT_SECRET, tenant=TENANT
    )
    _say(f"HaloPSA API connection to {connection.api_url}")
    return connection


def sync_from_standin() -> str:
    """One sync now that the stand-in answers, so the dashboard opens with HaloPSA's invoices."""
    from halo.selectors import halo_connection_for_portal
    from halo.sync import halo_sync_run
    from portal.models import Portal

    connection = halo_connection_for_portal(portal=Portal.objects.get(host=PORTAL_HOST))
    run = halo_sync_run(connection=connection, trigger="demo")
    if run.error:
        return f"sync failed: {run.error}"
    counts = run.counts.get("invoices", {})
    return f"synced from HaloPSA: {counts.get('created', 0)} new, {counts.get('updated', 0)} changed invoices"


def run_sso_connection_test(*, host: str = PORTAL_HOST, issuer: str = ISSUER) -> str:
    """Run the admin's "Test connection" on the demo's SSO config once the stand-in answers.

    The seed enables the config before the stand-in runs, so the admin would show it as "Never
    tested"; a real test (recorded in the event log like one from the admin) shows what works.
    """
    from sso.connection_test import sso_connection_test
    from sso.models import SSOConfig

    config = SSOConfig.objects.filter(portal__host=host, issuer=issuer).first()
    if config is None:
        return "no demo SSO config to test"
    report = sso_connection_test(config=config)
    return "SSO Test connection passed" if report.passed else f"SSO Test connection failed: {report.summary}"


def _bare_portal() -> None:
    from portal.models import Contact, Customer, Portal

    portal = Portal.objects.filter(host=PORTAL_HOST).first()
    if portal is None:
        portal = Portal.objects.create(name="Acme Managed IT", url=PORTAL_URL)
    customer, _ = Customer.objects.get_or_create(portal=portal, name="Acme Ltd")
    if not customer.contacts.filter(email__iexact="alice@example.com").exists():
        Contact.objects.create(customer=customer, email="alice@example.com", name="Alice Anderson")


def _sso_config(portal):
    """The demo's HaloPSA config pointing at the stand-in; an existing one is kept as the admin left it.

    Keeping it (rather than resetting its fields) preserves its key, which is part of the redirect URL
    registered at the stand-in, and whatever the person changed in the admin while trying things.
    """
    from sso.models import SSOConfig

    config = SSOConfig.objects.filter(portal=portal, issuer=ISSUER).first()
    if config is not None:
        _say(f"SSO config {config.key} already exists; left as it is")
        return config
    values = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "tenant": TENANT,
        "description": "HaloPSA",
        "logout_redirect_url": STANDIN_PORTAL_PAGE,
        "enabled": True,
        "show_button": True,
    }
    try:
        from sso.services import sso_config_create
    except ImportError:  # the services module is newer than this launcher may be
        config = SSOConfig.objects.create(portal=portal, **values)
    else:
        config = sso_config_create(portal=portal, **values)
    _say(f"created SSO config {config.key} (HaloPSA stand-in at {ISSUER})")
    return config


def _admin_user() -> None:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if User.objects.filter(email=ADMIN_EMAIL, portal__isnull=True).exists():
        return
    User.objects.create_superuser(ADMIN_EMAIL, ADMIN_PASSWORD)
    _say(f"created superuser {ADMIN_EMAIL}")


def _staff_user(portal) -> None:
    """The demo's portal staff user; an existing one keeps the password the person may have changed."""
    from portal.permissions import portal_staff_user_ensure

    user, created = portal_staff_user_ensure(
        portal=portal, email=STAFF_EMAIL, password=None, name="Acme staff"
    )
    if created or not user.has_usable_password():
        user.set_password(STAFF_PASSWORD)
        user.save(update_fields=["password"])
        _say(f"created portal staff user {STAFF_EMAIL}")


def _standin(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - our own python, argv built here
        [sys.executable, "-m", "halostub", *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"[demo] stand-in command {args[0]} failed:\n{result.stderr or result.stdout}")
    return result.stdout


def prepare_standin(config: DemoConfig, *, env: dict[str, str]) -> None:
    """Migrate the stand-in's database and register the portal's client, the users and a Billing link."""
    _say("migrating the HaloPSA stand-in's database (var/halostub.sqlite3)")
    _standin("migrate", "--noinput", "-v0", env=env)
    client = json.loads(
        _standin(
            "standin_client",
            CLIENT_ID,
            "--name",
            "Billing portal (demo)",
            "--redirect-uri",
            config.callback_url,
            "--post-logout-redirect-uri",
            STANDIN_PORTAL_PAGE,
            env=env,
        )
    )
    _say(
        f"stand-in client {client['client_id']} ({client['client_type']}) redirects to {config.callback_url}"
    )
    for email, password, name, _who in STANDIN_USERS:
        _standin("standin_user", email, "--password", password, "--name", name, env=env)
    # HaloPSA's customer-portal custom link: the SSO login URL, a prompt-free deep login.
    _standin("standin_link", "Billing", config.login_url, env=env)
    # HaloPSA's API side: clients, users and invoices to sync, and the portal's webhook.
    _standin("standin_api", "seed-demo", env=env)
    if config.webhook_url:
        _standin(
            "standin_api", "webhook", config.webhook_url, "--username", config.webhook_username,
            "--password", config.webhook_secret, env=env,
        )  # fmt: skip


def prepare_stripe(portal_host: str = PORTAL_HOST) -> str:
    """Connect the demo portal to the local Stripe stand-in; returns the webhook URL localstripe posts to.

    The URL uses 127.0.0.1 (``*.localhost`` names resolve only in browsers); the webhook path answers
    on any host because its key names the portal.
    """
    from payments.connection import stripe_account_connect
    from portal.models import Portal

    portal = Portal.objects.get(host=portal_host)
    account = stripe_account_connect(
        portal=portal,
        secret_key=STRIPE_SECRET_KEY,
        publishable_key=STRIPE_PUBLISHABLE_KEY,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        allow_partial=True,
        allow_saved_cards=True,
    )
    return f"http://127.0.0.1:{PORTAL_PORT}/payments/webhook/{account.webhook_key}/"


def register_stripe_webhook(webhook_url: str) -> None:
    """localstripe keeps webhooks in memory: register ours each time it starts."""
    import requests

    response = requests.post(
        f"{STRIPE_URL}/_config/webhooks/portal",
        data={"url": webhook_url, "secret": STRIPE_WEBHOOK_SECRET},
        timeout=5,
    )
    response.raise_for_status()
