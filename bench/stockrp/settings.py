"""Stock mozilla-django-oidc, configured from settings as its documentation shows.

Same database kind and connection reuse as the portal row it is compared with (the harness passes
``DATABASE_URL`` and ``CONN_MAX_AGE``); default Django sessions; endpoints of the benchmark's
loopback provider from ``OIDC_ISSUER``.
"""

import environ

env = environ.Env()
ISSUER = env.str("OIDC_ISSUER")

SECRET_KEY = "bench-only-" + "x" * 50
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.stockrp.urls"
WSGI_APPLICATION = "bench.stockrp.wsgi.application"
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TEMPLATES = []
AUTHENTICATION_BACKENDS = ["mozilla_django_oidc.auth.OIDCAuthenticationBackend"]
LOGIN_REDIRECT_URL = "/home/"
LOGIN_REDIRECT_URL_FAILURE = "/failed/"

OIDC_RP_CLIENT_ID = "portal-client"
OIDC_RP_CLIENT_SECRET = ""
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email profile"
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/authorize"
OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"
OIDC_USE_PKCE = True
OIDC_REDIRECT_REQUIRE_HTTPS = False

LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
