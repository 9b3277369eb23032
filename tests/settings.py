"""Test settings: the real settings module, with test-only environment defaults.

Everything still comes from ``portal.settings`` (and so from the environment): CI points
``DATABASE_URL`` at PostgreSQL and ``TEST_BROKER_URL`` at Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "083RRUSsP9egzr0IANbfxQT654Gi7tJHz5zLrRc5H3k=")
os.environ.setdefault("SSO_ALLOW_INSECURE_HTTP", "true")
# Tests (and the servers they start) run on one machine with locmem mail/cache and inline tasks.
os.environ.setdefault("ALLOW_INSECURE_DEFAULTS", "true")
# Test providers listen on loopback; tests of the address policy override this per test.
os.environ.setdefault("SSO_PROVIDER_ALLOWED_NETWORKS", "127.0.0.1/32")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from portal.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
# Tests and browsers talk plain http on loopback.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"  # __Host- cookies need https
CSRF_COOKIE_NAME = "csrftoken"
OIDC_REDIRECT_REQUIRE_HTTPS = False
# Tests run tasks inline unless a test starts a real worker against TEST_BROKER_URL.
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
