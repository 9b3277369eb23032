"""Test connection's client-side probes against the project's own loopback providers.

Each typical set-up mistake is named in ``manage.py sso test KEY``'s output (one line per check,
✓/✗/!) with the value at fault, and the command fails (exit status 1); the right values pass.
"""

import logging
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sso.client_probes import sanitised
from sso.connection_test import sso_connection_test
from tests.factories import SSOConfigFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cret-Value-that-must-never-show"


@pytest.fixture
def halo(portal, standin):
    """A config as HaloPSA would have it, registered at the stand-in (confidential unless changed)."""

    def make(
        *, register: bool = True, secret: str | None = None, registered_secret: str | None = None, **values
    ):
        redirect_uris = values.pop("redirect_uris", None)
        config = SSOConfigFactory(
            portal=portal,
            issuer=standin.issuer,
            client_id=values.pop("client_id", f"portal-{uuid.uuid4().hex[:10]}"),
            tenant=values.pop("tenant", standin.tenant),
            client_secret=secret or "",
            **values,
        )
        if register:
            standin.add_client(
                config.client_id,
                redirect_uris=redirect_uris or [config.callback_url],
                client_secret=registered_secret,
            )
        return config

    return make


def run_test(config) -> tuple[int, str]:
    """``manage.py sso test KEY``: (exit status, stdout)."""
    out = StringIO()
    try:
        call_command("sso", "test", config.key, stdout=out, stderr=StringIO())
    except CommandError as exc:
        out.write(f"\n{exc}")
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def line(output: str, name: str) -> str:
    return next(row for row in output.splitlines() if f" {name}:" in row)


def test_the_right_values_pass_every_check(halo):
    status, out = run_test(halo())
    assert status == 0, out
    assert line(out, "Client ID and login redirect URL").strip().startswith("✓")
    assert line(out, "Tenant").strip().startswith("✓")
    assert line(out, "Client authentication (public client)").strip().startswith("✓")
    assert "✗" not in out
    assert not [row for row in out.splitlines() if row.strip().startswith("!")]


def test_a_wrong_client_id_is_named(halo, standin):
    config = halo(register=False, client_id="no-such-client-at-halo")
    status, out = run_test(config)
    assert status == 1
    found = line(out, "Client ID")
    assert found.strip().startswith("✗")
    assert "does not know client ID “no-such-client-at-halo”" in found
    assert "<" not in found  # the provider's page as text, never its HTML


def test_an_unregistered_redirect_url_is_named_with_the_url_to_paste(halo, standin):
    config = halo(redirect_uris=["http://elsewhere.example/callback"])
    status, out = run_test(config)
    assert status == 1
    found = line(out, "Login redirect URL")
    assert found.strip().startswith("✗")
    assert f"paste {config.callback_url} into" in found


def test_a_wrong_secret_is_named_and_never_shown_or_logged(halo, caplog):
    caplog.set_level(logging.DEBUG)
    config = halo(secret=SECRET, registered_secret="the-real-secret-at-halo")
    status, out = run_test(config)
    assert status == 1
    found = line(out, "Client secret")
    assert found.strip().startswith("✗") and "client secret is wrong" in found
    assert line(out, "Client ID and login redirect URL").strip().startswith("✓")
    assert SECRET not in out
    assert SECRET not in caplog.text
    assert all(SECRET not in str(record.__dict__) for record in caplog.records)
    from sso.models import SSOEvent

    assert SECRET not in str(SSOEvent.objects.filter(config=config).values_list("message", "detail"))


def test_the_right_secret_passes(halo):
    config = halo(secret=SECRET, registered_secret=SECRET)
    status, out = run_test(config)
    assert status == 0, out
    assert line(out, "Client secret").strip().startswith("✓")


def test_a_missing_tenant_is_named(halo):
    status, out = run_test(halo(tenant=""))
    assert status == 1
    found = line(out, "Tenant")
    assert found.strip().startswith("✗") and "wants a tenant and this config has none" in found


def test_a_wrong_tenant_is_named(halo):
    status, out = run_test(halo(tenant="not-our-tenant"))
    assert status == 1
    assert "Tenant “not-our-tenant” is unknown" in line(out, "Tenant")


def test_a_secret_for_a_public_client_is_reported(halo):
    # HaloPSA "Native application" clients take no secret; the stand-in registers this one public.
    config = halo(secret=SECRET)
    report = sso_connection_test(config=config)
    check = report.check("Client secret")
    assert check is not None and check.status in ("fail", "ok")  # the provider decides; never silent
    assert SECRET not in check.message


def test_provider_text_is_sanitised():
    hostile = "<html><title>Oops</title><script>alert(1)</script><b>Bad\x00 client</b>\u202e " + "x" * 1000
    text = sanitised(hostile, secret="Bad")
    assert "<" not in text and "alert" not in text and "\x00" not in text and "\u202e" not in text
    assert text.startswith("Oops •••") and len(text) <= 300
