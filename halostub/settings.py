"""Settings of the HaloPSA stand-in (development and tests only).

Environment:
- ``HALOSTUB_DB``: its SQLite file (default ``<repo>/var/halostub.sqlite3``). The RSA signing key lives
  beside it (``<db name>.rsa.pem``, made at first start, never committed) unless ``HALOSTUB_KEY_FILE``
  says otherwise.
- ``HALOSTUB_TENANT``: the tenant that authorize and token requests must name (default ``demo``, as on
  hosted HaloPSA); empty means none is required (as on-premise).
- ``HALOSTUB_CONTROL=1``: mounts the ``/_control/`` API that tests use to seed and count.
- ``HALOSTUB_ISS_PARAMETER=1``: append RFC 9207's ``iss`` to authorization responses.
"""

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _signing_key(path: Path) -> str:
    """The stand-in's RSA private key (PEM), generated at first start.

    Kept in a file beside the database rather than in settings or git: each checkout (and each test
    run, whose database is in a temporary directory) gets its own key. Created with O_EXCL so that two
    processes starting at once (``migrate`` and ``runserver``) cannot write different keys.
    """
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    return path.read_text()


DB_PATH = Path(os.environ.get("HALOSTUB_DB") or REPO_DIR / "var" / "halostub.sqlite3").resolve()
DB_PATH.parent.mkdir(parents=True, exist_ok=True)
KEY_PATH = Path(os.environ.get("HALOSTUB_KEY_FILE") or DB_PATH.with_suffix(".rsa.pem"))

HALOSTUB_TENANT = os.environ.get("HALOSTUB_TENANT", "demo").strip()
HALOSTUB_CONTROL = _flag("HALOSTUB_CONTROL")
HALOSTUB_ISS_PARAMETER = _flag("HALOSTUB_ISS_PARAMETER")

# A development tool on loopback: a fixed key is fine, DEBUG stays off so errors look like a server's.
SECRET_KEY = os.environ.get("HALOSTUB_SECRET_KEY", "halostub-dev-only-not-a-secret")
DEBUG = _flag("HALOSTUB_DEBUG")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", ".localhost", "[::1]"]

INSTALLED_APPS = [
    "halostub",  # first, so its templates override django-oauth-toolkit's
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
]

MIDDLEWARE = [
    "halostub.stats.RequestCountMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "halostub.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_PATH,
        # runserver is threaded: wait for the write lock instead of failing with "database is locked".
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Fake users with throwaway passwords: a cheap hash keeps test sign-ins fast.
PASSWORD_HASHERS = ["halostub.hashers.QuickPBKDF2PasswordHasher"]

LOGIN_URL = "halostub:login"
LOGIN_REDIRECT_URL = "halostub:portal"
LOGOUT_REDIRECT_URL = "halostub:portal"

# Own cookie names: the portal may run on the same host name (another port) in tests, and browsers
# share cookies across ports.
SESSION_COOKIE_NAME = "halo_sessionid"
CSRF_COOKIE_NAME = "halo_csrftoken"
SESSION_COOKIE_SAMESITE = "Lax"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _signing_key(KEY_PATH),
    "OAUTH2_VALIDATOR_CLASS": "halostub.oauth.StandInValidator",
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name",
        "email": "Your email address",
        # HaloPSA API scopes (client-credentials applications).
        "all": "Everything the agent may do",
        "read:customers": "Read clients and users",
        "read:invoices": "Read invoices and payments",
        "edit:invoices": "Record payments",
        "admin:webhooks": "Manage webhooks",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    # S256 only, code flow only, as the HaloPSA "Authorisation Code (Native application)" method.
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 120,
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # RP-initiated logout: with a valid id_token_hint for the signed-in user, sign out and redirect at
    # once (no "are you sure" page), so the portal's logout lands on its post-logout URL.
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    # Keep issued ID tokens usable as hints until they expire: a person signed in to the portal in two
    # browsers can sign out of both, each landing on its post-logout URL.
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("HALOSTUB_LOG_LEVEL", "WARNING")},
}
