"""``manage.py sso add|list|test`` as scripts use them (CONTRACT.md)."""

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sso.models import SSOConfig
from tests.docserver import docserver_fixture, oidc_provider  # noqa: F401
from tests.factories import SSOConfigFactory

REPO = Path(__file__).resolve().parents[2]
KEY = re.compile(r"^[a-z0-9]{6}-halopsa-[a-z0-9]{6}$")


def run(*args) -> str:
    out = StringIO()
    call_command("sso", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_add_prints_one_json_object(portal):
    out = run(
        "add",
        "--portal",
        "acme.localhost",
        "--issuer",
        "https://acme.halopsa.com/auth/",
        "--client-id",
        "abc-123",
        "--client-secret",
        "top-secret",
        "--tenant",
        "acme",
    )

    data = json.loads(out)
    assert set(data) == {"key", "callback_url", "login_url"}
    assert KEY.match(data["key"])
    assert data["callback_url"] == f"http://acme.localhost:8000/callback?iss={data['key']}"
    assert data["login_url"] == f"http://acme.localhost:8000/sso/{data['key']}/login/"
    config = SSOConfig.objects.get(key=data["key"])
    assert config.portal == portal
    assert config.issuer == "https://acme.halopsa.com/auth"
    assert config.client_secret == "top-secret"
    assert config.tenant == "acme"
    assert config.enabled and config.show_button


def test_add_flags_and_port_in_portal_host(portal):
    data = json.loads(
        run(
            "add",
            "--portal",
            "acme.localhost:8000",
            "--issuer",
            "https://acme.halopsa.com/auth",
            "--client-id",
            "abc",
            "--disabled",
            "--hide-button",
            "--description",
            "Acme Support",
            "--scope",
            "openid  email openid",
            "--logout-redirect-url",
            "https://support.acme.example/",
        )
    )
    config = SSOConfig.objects.get(key=data["key"])
    assert not config.enabled
    assert not config.show_button
    assert config.description == "Acme Support"
    assert config.scope == "openid email"
    assert config.logout_redirect_url == "https://support.acme.example/"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--portal", "nobody.localhost"], "No portal answers on host “nobody.localhost”"),
        (
            ["--issuer", "https://acme.halopsa.com/auth?x=1"],
            "--issuer: The issuer URL must not contain a query",
        ),
        (["--scope", "profile email"], "--scope: The scope must contain “openid”"),
        (["--tenant", "a b"], "--tenant: The tenant is a single word"),
        (["--client-id", " "], "--client-id: Enter the client ID"),
    ],
)
def test_add_refuses_bad_input_clearly(portal, args, message):
    base = {"--portal": "acme.localhost", "--issuer": "https://acme.halopsa.com/auth", "--client-id": "abc"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    with pytest.raises(CommandError, match=re.escape(message)):
        run("add", *[item for pair in base.items() for item in pair])
    assert not SSOConfig.objects.exists()


def test_add_refuses_a_duplicate_issuer_naming_the_existing_config(portal):
    existing = SSOConfigFactory(portal=portal, issuer="https://acme.halopsa.com/auth", description="Halo")
    with pytest.raises(CommandError, match=re.escape(f"“Halo” (key {existing.key})")):
        run(
            "add",
            "--portal",
            "acme.localhost",
            "--issuer",
            "https://acme.halopsa.com/auth",
            "--client-id",
            "x",
        )


def test_add_refuses_http_when_insecure_is_off(portal, settings):
    settings.SSO_ALLOW_INSECURE_HTTP = False
    with pytest.raises(CommandError, match="must use https://"):
        run(
            "add",
            "--portal",
            "acme.localhost",
            "--issuer",
            "http://acme.halopsa.com/auth",
            "--client-id",
            "x",
        )


def test_list_never_shows_the_secret(portal, other_portal):
    SSOConfigFactory(portal=portal, client_secret="hunter2-very-secret", tenant="acme")
    SSOConfigFactory(portal=other_portal)

    everything = run("list")
    data = json.loads(everything)
    assert "hunter2-very-secret" not in everything
    assert len(data) == 2
    acme = next(item for item in data if item["portal"] == "acme.localhost")
    assert acme["has_client_secret"] is True
    assert "client_secret" not in acme
    assert {"key", "callback_url", "login_url", "issuer", "client_id", "scope", "tenant", "enabled"} <= set(
        acme
    )

    only_globex = json.loads(run("list", "--portal", "globex.localhost"))
    assert [item["portal"] for item in only_globex] == ["globex.localhost"]
    assert only_globex[0]["has_client_secret"] is False


def test_test_passes_with_exit_status_zero(portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=oidc_provider(docserver))
    out = run("test", config.key)
    assert "✓ Discovery document" in out
    assert "Connection test passed" in out


def test_test_fails_with_a_command_error(portal, docserver):
    config = SSOConfigFactory(portal=portal, issuer=docserver.url("/wrong"))
    out = StringIO()
    with pytest.raises(CommandError, match="Connection test failed"):
        call_command("sso", "test", config.key, stdout=out)
    assert "✗ Discovery document: Not found (HTTP 404)" in out.getvalue()


def test_test_unknown_key(db):
    with pytest.raises(CommandError, match="No SSO config has the key"):
        run("test", "nope00-halopsa-nope00")


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_stdout_is_only_json_in_a_real_process(tmp_path, docserver):
    """Production logs go to stdout; the command must keep them off it (they go to stderr)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "DEBUG",
    }
    assert _manage("migrate", "-v0", env=env).returncode == 0
    # The subprocess has its own database: create the portal there.
    created = _manage(
        "shell",
        "-c",
        "from portal.models import Portal; Portal.objects.create(name='Acme', url='http://acme.localhost:8000')",
        env=env,
    )
    assert created.returncode == 0, created.stderr

    added = _manage(
        "sso",
        "add",
        "--portal",
        "acme.localhost",
        "--issuer",
        oidc_provider(docserver),
        "--client-id",
        "x",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert KEY.match(data["key"])

    tested = _manage("sso", "test", data["key"], env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "outbound call" in tested.stderr  # the logs went to stderr...
    assert "provider call" not in tested.stdout  # ...not into the readable output

    listed = _manage("sso", "list", env=env)
    assert json.loads(listed.stdout)[0]["key"] == data["key"]

    docserver.routes.clear()
    failed = _manage("sso", "test", data["key"], env=env)
    assert failed.returncode != 0
    assert "Connection test failed" in failed.stderr
