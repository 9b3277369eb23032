"""Settings read from the environment, checked in a fresh process as an operator would start one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# Variables an operator sets (and tests/settings.py defaults for the test process): start clean.
# FIELD_ENCRYPTION_KEY is not among them: the test key passes through, as a deployment always has one.
OPERATOR_VARIABLES = {
    "DATABASE_URL",
    "EMAIL_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOW_INSECURE_DEFAULTS",
    "SSO_ALLOW_INSECURE_HTTP",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
}


PRODUCTION_FIELD_KEY = "Ok9rbWyZU0usH2alwaCybKUYf0ikyW5nHTQJ69f26iU="


def settings_in_fresh_process(env: dict, *names: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: str(getattr(settings, n, None)) for n in {list(names)!r}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return {
        "returncode": result.returncode,
        "stderr": result.stderr,
        **(json.loads(result.stdout) if result.stdout else {}),
    }


def test_production_refuses_to_start_without_a_secret_key():
    result = settings_in_fresh_process({"DEBUG": "false"}, "SECRET_KEY")

    assert result["returncode"] != 0
    assert "SECRET_KEY must be set" in result["stderr"]


def test_a_network_that_is_none_is_named_at_the_start():
    result = settings_in_fresh_process(
        {"DEBUG": "true", "SSO_PROVIDER_ALLOWED_NETWORKS": "10.0.0.0/8, 10.0.0.0/33"},
        "SSO_PROVIDER_ALLOWED_NETWORKS",
    )
    assert result["returncode"] != 0
    assert (
        "ImproperlyConfigured: SSO_PROVIDER_ALLOWED_NETWORKS: '10.0.0.0/33' is not a network"
        in result["stderr"]
    )


def test_production_refuses_to_start_without_a_field_encryption_key():
    result = settings_in_fresh_process(
        {"DEBUG": "false", "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": ""}, "FIELD_ENCRYPTION_KEY"
    )

    assert result["returncode"] != 0
    assert "FIELD_ENCRYPTION_KEY must be set" in result["stderr"]


def test_field_encryption_key_is_a_list_newest_first():
    result = settings_in_fresh_process(
        {"DEBUG": "false", "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": f"{PRODUCTION_FIELD_KEY},older"},
        "FIELD_ENCRYPTION_KEY",
    )

    assert result["FIELD_ENCRYPTION_KEY"] == str([PRODUCTION_FIELD_KEY, "older"])


def test_production_turns_on_secure_cookies_hsts_and_the_proxy_header():
    result = settings_in_fresh_process(
        {"DEBUG": "false", "SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": PRODUCTION_FIELD_KEY},
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
    )

    assert result["SESSION_COOKIE_SECURE"] == "True"
    assert result["CSRF_COOKIE_SECURE"] == "True"
    assert int(result["SECURE_HSTS_SECONDS"]) >= 31536000
    assert "HTTP_X_FORWARDED_PROTO" in result["SECURE_PROXY_SSL_HEADER"]


def test_filemail_with_three_slashes_is_an_absolute_directory():
    result = settings_in_fresh_process(
        {"DEBUG": "true", "EMAIL_URL": "filemail:///tmp/portal-mail"}, "EMAIL_BACKEND", "EMAIL_FILE_PATH"
    )

    assert result["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert result["EMAIL_FILE_PATH"] == "/tmp/portal-mail"


def test_contract_defaults():
    result = settings_in_fresh_process(
        {"DEBUG": "true"}, "ALLOWED_HOSTS", "CELERY_TASK_ALWAYS_EAGER", "SSO_ALLOW_INSECURE_HTTP"
    )

    assert result["ALLOWED_HOSTS"] == "['localhost', '.localhost', '127.0.0.1']"
    assert result["CELERY_TASK_ALWAYS_EAGER"] == "True"  # no broker: tasks run inline
    assert result["SSO_ALLOW_INSECURE_HTTP"] == "False"


@pytest.mark.parametrize(
    ("env", "eager"),
    [
        ({"CELERY_TASK_ALWAYS_EAGER": "false"}, "True"),  # no broker: no worker could ever run them
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "False"),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "CELERY_TASK_ALWAYS_EAGER": "true"}, "True"),
    ],
)
def test_tasks_run_inline_without_a_broker_and_on_request(env, eager):
    result = settings_in_fresh_process({"DEBUG": "true", **env}, "CELERY_TASK_ALWAYS_EAGER")
    assert result["CELERY_TASK_ALWAYS_EAGER"] == eager, result["stderr"]


def _database(result: dict) -> dict:
    import ast

    return ast.literal_eval(result["DATABASES"])["default"]


def test_production_keeps_database_connections_and_checks_them():
    result = settings_in_fresh_process(
        {"DEBUG": "false", "SECRET_KEY": "x" * 50, "DATABASE_URL": "postgres://u@db.internal/portal"},
        "DATABASES",
    )
    database = _database(result)
    assert database["CONN_MAX_AGE"] == 60 and database["CONN_HEALTH_CHECKS"] is True
    assert database["ENGINE"] == "portal.dbbackend"  # reconnects patiently during a restart
    assert "statement_timeout" not in database["OPTIONS"].get("options", "")  # not for migrations, workers


def test_web_processes_get_a_short_statement_timeout():
    result = settings_in_fresh_process(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://u@db.internal/portal",
            "PORTAL_WEB_PROCESS": "true",
            "DATABASE_WEB_STATEMENT_TIMEOUT": "2.5",
        },
        "DATABASES",
    )
    assert "-c statement_timeout=2500" in _database(result)["OPTIONS"]["options"]


def test_a_redis_cache_never_waits_long_on_a_dead_server():
    result = settings_in_fresh_process({"DEBUG": "true", "CACHE_URL": "redis://10.0.0.9:6379/1"}, "CACHES")
    assert (
        "'socket_timeout': 0.25" in result["CACHES"] and "'socket_connect_timeout': 0.25" in result["CACHES"]
    )


def test_a_redis_cache_url_gets_the_backend_that_reuses_its_client(redis_cache):
    """One ``redis.Redis`` handle per pool, not one per cache call (portal.redis_cache)."""
    from portal.redis_cache import RedisCache

    result = settings_in_fresh_process({"DEBUG": "true", "CACHE_URL": "redis://10.0.0.9:6379/1"}, "CACHES")
    assert "'BACKEND': 'portal.redis_cache.RedisCache'" in result["CACHES"]

    backend = RedisCache(redis_cache._servers[0], {})
    assert backend._cache.get_client(write=True) is backend._cache.get_client(write=True)
    backend.set("reused", 41)
    assert backend.incr("reused") == 42 and redis_cache.get("reused") == 42


def start_in_fresh_process(command: list[str], env: dict) -> subprocess.CompletedProcess:
    """``command`` started from the repository as an operator would, with only ``env`` set on top."""
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_VARIABLES | {"DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        command, cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


MISSING_SETTINGS = [
    ({"SECRET_KEY": "", "FIELD_ENCRYPTION_KEY": PRODUCTION_FIELD_KEY}, ["SECRET_KEY must be set"]),
    ({"SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": ""}, ["FIELD_ENCRYPTION_KEY must be set"]),
    (
        {"SECRET_KEY": "", "FIELD_ENCRYPTION_KEY": ""},
        ["SECRET_KEY must be set", "FIELD_ENCRYPTION_KEY must be set"],
    ),
]


@pytest.mark.parametrize(("env", "messages"), MISSING_SETTINGS)
def test_manage_py_names_a_missing_production_secret_without_a_traceback(env, messages):
    """What the operator reads is the variable and how to set it, one line each, not Django's traceback."""
    result = start_in_fresh_process([sys.executable, "manage.py", "check"], {"DEBUG": "false", **env})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line.split(" when ")[0] for line in lines] == [f"Error: {message}" for message in messages]
    assert all(".env.example" in line for line in lines)


@pytest.mark.parametrize(("env", "messages"), MISSING_SETTINGS[:2])
def test_gunicorn_stops_with_the_message_and_no_traceback(env, messages):
    """gunicorn halts (no endless re-booting of workers) after the same clear line."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    result = start_in_fresh_process(
        [gunicorn, "portal.wsgi:application"],
        {"DEBUG": "false", "GUNICORN_BIND": "127.0.0.1:0", "GUNICORN_WORKERS": "2", **env},
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"Error: {messages[0]}" in result.stderr


def test_other_start_errors_keep_their_traceback():
    """Only configuration problems are shortened: a broken import still shows where it broke."""
    result = start_in_fresh_process(
        [sys.executable, "manage.py", "check"],
        {"DEBUG": "true", "DJANGO_SETTINGS_MODULE": "portal.no_such_settings"},
    )

    assert result.returncode == 1 and "Traceback" in result.stderr
    assert "ModuleNotFoundError: No module named 'portal.no_such_settings'" in result.stderr
