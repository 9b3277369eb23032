"""``manage.py halo connect|sync|test`` as the contract states them."""

import json
import logging
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from halo.models import HaloConnection
from tests.factories import SSOConfigFactory
from tests.halo.conftest import API_CLIENT_ID, API_SECRET, clients, invoices, users

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("halo", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def connect(halo, *extra) -> dict:
    code, out = run(
        "connect", "--portal", "acme.localhost", "--client-id", API_CLIENT_ID, "--client-secret", API_SECRET,
        "--tenant", "demo", "--api-url", halo.api_url, *extra,
    )  # fmt: skip
    assert code == 0
    return json.loads(out)


def test_connect_prints_the_webhook_and_sync_prints_counts(portal, halo):
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(3))
    data = connect(halo, "--invoice-access", "halo")
    connection = HaloConnection.objects.get(portal=portal)
    assert data["webhook_url"] == f"http://acme.localhost:8000/halo/webhook/{connection.key}/"
    assert data["webhook_secret"] == connection.webhook_secret and data["webhook_username"]
    assert connection.auth_url == f"{halo.base_url}/auth"  # derived from the API URL
    portal.refresh_from_db()
    assert portal.invoice_access == "halo"
    assert connect(halo)["webhook_secret"] == data["webhook_secret"]  # reconnecting keeps the secret
    code, out = run("sync", "--portal", "acme.localhost", "--full")
    summary = json.loads(out)
    assert code == 0 and summary["error"] == ""
    assert summary["invoices"] == {"created": 3, "updated": 0}
    assert summary["customers"]["created"] == 1 and summary["contacts"]["created"] == 1
    assert summary["payments"] == {"created": 0, "updated": 0} and summary["api_calls"] > 0


def test_api_url_is_prefilled_from_the_sso_issuer(portal, halo):
    SSOConfigFactory(portal=portal, issuer=f"{halo.base_url}/auth", tenant="demo")
    code, out = run(
        "connect", "--portal", "acme.localhost", "--client-id", API_CLIENT_ID, "--client-secret", API_SECRET
    )
    assert code == 0 and json.loads(out)["api_url"] == halo.api_url
    assert HaloConnection.objects.get().tenant == "demo"


def test_test_command_exit_status_names_the_problem(portal, halo):
    connect(halo)
    assert run("test", "--portal", "acme.localhost")[0] == 0
    HaloConnection.objects.update(client_secret="wrong")
    code, out = run("test", "--portal", "acme.localhost")
    assert code == 1 and "client ID or secret" in out
    HaloConnection.objects.update(client_secret=API_SECRET, scope="read:customers")
    code, out = run("test", "--portal", "acme.localhost")
    assert code == 1 and "Invoice" in out and "permission" in out
    HaloConnection.objects.update(scope="all", tenant="")
    code, out = run("test", "--portal", "acme.localhost")
    assert code == 1 and "tenant" in out
    HaloConnection.objects.update(tenant="demo", api_url=f"{halo.base_url}/nope")
    code, out = run("test", "--portal", "acme.localhost")
    assert code == 1 and "404" in out


def test_sync_failure_exits_nonzero_with_the_error(portal, halo, settings):
    settings.HALO_MAX_RETRIES = 0
    connect(halo)
    halo.knobs(fail={"path": "/api/Client", "count": 1})
    code, out = run("sync", "--portal", "acme.localhost")
    assert code == 1 and "500" in json.loads(out)["error"]


def test_unknown_portal_and_bad_urls_are_command_errors(portal, halo):
    with pytest.raises(CommandError):
        run("sync", "--portal", "nowhere.localhost")
    with pytest.raises(CommandError):
        run("sync", "--portal", "acme.localhost")  # not connected yet
    with pytest.raises(CommandError):
        run(
            "connect",
            "--portal",
            "acme.localhost",
            "--client-id",
            "x",
            "--client-secret",
            "y",
            "--api-url",
            "ftp://x/api",
        )


def test_connect_refuses_a_tenant_that_is_no_single_word(portal, halo):
    """The form's rule holds on the command line too: the tenant travels in the token request's query."""
    with pytest.raises(CommandError, match=r"^--tenant: The tenant is a single word"):
        connect(halo, "--tenant", "demo&client_id=attacker")  # the later --tenant wins
    assert not HaloConnection.objects.exists()
    with pytest.raises(CommandError, match=r"^--client-id: This field cannot be blank"):
        run(
            "connect",
            "--portal",
            "acme.localhost",
            "--client-id",
            "",
            "--client-secret",
            "x",
            "--api-url",
            halo.api_url,
        )
    with pytest.raises(CommandError, match=r"^--api-url: Give the API URL without"):
        connect(halo, "--api-url", f"{halo.api_url}?x=1#f")  # was "authorisation server URL is empty"
    assert connect(halo, "--tenant", "  demo  ")  # surrounding spaces are trimmed, not refused
    assert HaloConnection.objects.get().tenant == "demo"


#: How ``halo connect`` names each URL option in its refusals, and the example it gives.
URL_OPTIONS = {
    "--api-url": "Give the API URL without “?…” or “#…”, e.g. https://acme.halopsa.com/api.",
    "--auth-url": "Give the authorisation server URL without “?…” or “#…”, e.g. https://acme.halopsa.com/auth.",
}


@pytest.mark.parametrize(
    ("option", "tail"),
    [
        ("--api-url", "/api?"),
        ("--api-url", "/api#"),
        ("--api-url", "/api/?"),
        ("--api-url", "/api?a=b"),
        ("--auth-url", "/auth?"),
        ("--auth-url", "/auth#"),
        ("--auth-url", "/auth?a=b"),
    ],
)
def test_connect_names_the_url_option_whose_query_or_fragment_it_refuses(portal, halo, option, tail):
    """A bare "?" or "#" is still a query or fragment: the person is told which option they typed and
    what is wrong with it (it was "--auth-url: authorisation server URL is empty" for "--api-url …/api?"),
    and nothing is stored (an auth URL ending in "?" used to be saved as typed)."""
    urls = {"--api-url": halo.api_url, "--auth-url": f"{halo.base_url}/auth"}
    urls[option] = f"{halo.base_url}{tail}"
    if option == "--api-url":
        del urls["--auth-url"]  # derived from the API URL, as when a person leaves it out
    args = [arg for pair in urls.items() for arg in pair]
    with pytest.raises(CommandError) as refused:
        run("connect", "--portal", "acme.localhost", "--client-id", API_CLIENT_ID, "--client-secret", API_SECRET,
            "--tenant", "demo", *args)  # fmt: skip
    assert str(refused.value) == f"{option}: {URL_OPTIONS[option]}"
    assert not HaloConnection.objects.exists()


def test_sync_keeps_the_logs_off_stdout(portal, halo, capsys):
    """Production logs go to stdout: while a command runs they go to stderr, so stdout is ONE object."""
    halo.seed_api(clients=clients(1), users=users(1), invoices=invoices(2))
    connect(halo)
    handler = logging.StreamHandler(sys.stdout)  # as the production logging set-up has it
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        capsys.readouterr()
        call_command("halo", "sync", "--portal", "acme.localhost", "--full")
    finally:
        root.removeHandler(handler)
        root.level = level
    captured = capsys.readouterr()
    assert json.loads(captured.out)["invoices"]["created"] == 2  # one object, nothing else
    assert "outbound" in captured.err.lower()
