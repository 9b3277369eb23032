"""Item 8: production fails closed, checked in fresh processes as an operator would start them.

Seen: with DEBUG off, console mail (codes printed to stdout), a local-memory cache and inline tasks
started silently, and ``SECRET_KEY=x`` was accepted.
"""

import os
import subprocess
import sys

import pytest

from tests.portal.test_settings import OPERATOR_VARIABLES, REPO, settings_in_fresh_process

FIELD_KEY = "Ok9rbWyZU0usH2alwaCybKUYf0ikyW5nHTQJ69f26iU="
LONG_SECRET = "k3!Q9v$Zr2#mW8pL0x^Tb7&Yc5*Nd1(Ge6)Hf4_Js-Ua+Vi=Ko~Lq"  # 53 varied characters
# What a real deployment sets besides the mail, cache and broker under test.
BASE = {"DEBUG": "false", "SECRET_KEY": LONG_SECRET, "FIELD_ENCRYPTION_KEY": FIELD_KEY}
PRODUCTION = {
    **BASE,
    "ALLOWED_HOSTS": "billing.example.com",
    "ADMIN_HOSTS": "billing.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal_never_connected",
    "EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.com:587",
    "CACHE_URL": "redis://127.0.0.1:6379/3",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3",
}
EXTRA_VARIABLES = {"EMAIL_URL", "CACHE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS", "ADMIN_HOSTS"}


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    # Not the test process's own switches either (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in OPERATOR_VARIABLES | EXTRA_VARIABLES and not k.startswith("DJANGO_")
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_check_refuses_console_mail_locmem_cache_and_inline_tasks():
    result = run(["manage.py", "check"], BASE)

    assert result.returncode != 0
    for error in ("portal.E002", "portal.E003", "portal.E004"):
        assert error in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("unsafe", "error"),
    [
        ({"EMAIL_URL": "consolemail://"}, "portal.E002"),
        ({"CACHE_URL": "locmemcache://"}, "portal.E003"),
        ({"CELERY_BROKER_URL": ""}, "portal.E004"),
        ({"CELERY_TASK_ALWAYS_EAGER": "true"}, "portal.E004"),
    ],
    ids=["console-mail", "locmem-cache", "no-broker", "eager"],
)
def test_each_insecure_default_alone_is_refused(unsafe, error):
    result = run(["manage.py", "check"], {**PRODUCTION, **unsafe})

    assert result.returncode != 0
    assert error in result.stderr


def test_allow_insecure_defaults_lets_a_one_machine_check_start():
    result = run(["manage.py", "check"], {**BASE, "ALLOW_INSECURE_DEFAULTS": "true"})

    assert result.returncode == 0, result.stderr


def test_gunicorn_refuses_to_load_the_app_with_insecure_defaults():
    """gunicorn runs no system checks: portal.wsgi does."""
    code = "import portal.wsgi"

    refused = run(["-c", code], BASE)
    allowed = run(["-c", code], {**BASE, "ALLOW_INSECURE_DEFAULTS": "true"})

    assert refused.returncode != 0
    assert "portal.E002" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr


def test_a_short_secret_key_is_refused():
    result = settings_in_fresh_process({**BASE, "SECRET_KEY": "x"}, "SECRET_KEY")

    assert result["returncode"] != 0
    assert "at least 50 characters" in result["stderr"]


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_cookies_are_host_prefixed():
    result = run(
        [
            "-c",
            "import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
            "s.SESSION_COOKIE_DOMAIN, s.SESSION_COOKIE_PATH]))",
        ],
        PRODUCTION,
    )

    assert result.stdout.strip() == '["__Host-sessionid", "__Host-csrftoken", true, null, "/"]', result.stderr


def test_debug_keeps_plain_cookie_names_for_http_demos():
    result = settings_in_fresh_process({"DEBUG": "true"}, "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME")

    assert (result["SESSION_COOKIE_NAME"], result["CSRF_COOKIE_NAME"]) == ("sessionid", "csrftoken")


def test_every_page_carries_the_content_security_policy(client, portal):
    response = client.get("/login/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "object-src 'none'" in policy
    nonce = response.wsgi_request.csp_nonce
    assert f"'nonce-{nonce}'" in policy
    assert f'<style nonce="{nonce}">' in response.content.decode()


def test_a_colour_that_is_not_hex_never_reaches_the_style_element(client, portal):
    type(portal).objects.filter(pk=portal.pk).update(primary_colour="red;}*{")

    body = client.get("/login/").content.decode()

    assert "red;}" not in body
    assert "--brand: #1a56db;" in body
