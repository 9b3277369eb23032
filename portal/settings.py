"""Settings for the billing portal: the one place configuration is read.

Every value an operator may change comes from the environment through django-environ (see
``.env.example`` and the README's table). Production secrets have no default: with ``DEBUG`` off the
process refuses to start without ``SECRET_KEY``.
"""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; real deployments set the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Django's technical 404/400/500 pages (URL patterns, settings, tracebacks) only when a developer
# asks for them: the demo runs with DEBUG on and customers use it (portal.middleware.ErrorPagesMiddleware).
DEBUG_TECHNICAL_PAGES = env.bool("DEBUG_TECHNICAL_PAGES", default=False)

# Both production secrets are checked before either refuses the start, so an operator missing both
# reads both (portal.startup prints each line as "Error: …" instead of a traceback).
_missing_secrets = []
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        _missing_secrets.append(
            "SECRET_KEY must be set when DEBUG is off: a random value of at least 50 characters in the "
            "environment (or .env, see .env.example); make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and len(SECRET_KEY) < 50:
    # Sessions, CSRF tokens and code HMACs are only as strong as this key.
    _missing_secrets.append(
        "SECRET_KEY must be at least 50 characters when DEBUG is off (see .env.example); make one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
# With DEBUG off, console mail, a local-memory cache and inline tasks are refused at start (see
# portal.checks) unless this is true: automated checks on one machine only, never production.
ALLOW_INSECURE_DEFAULTS = env.bool("ALLOW_INSECURE_DEFAULTS", default=False)

# Fernet keys that encrypt stored credentials (portal.crypto), newest first: encryption uses the
# first, decryption tries each, so rotation is "prepend a key, run rotate_secrets, drop the old one".
# The dev key below is public; it exists only so DEBUG setups start without configuration.
_DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY:
    if not DEBUG:
        _missing_secrets.append(
            "FIELD_ENCRYPTION_KEY must be set when DEBUG is off: one or more Fernet keys, newest first, "
            "comma-separated, in the environment (or .env, see .env.example); make one with: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    FIELD_ENCRYPTION_KEY = [_DEV_FIELD_ENCRYPTION_KEY]
if _missing_secrets:
    raise ImproperlyConfigured("\n".join(_missing_secrets))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "mozilla_django_oidc",
    "portal",
    "accounts",
    "sso",
    "halo",
    "payments",
]

MIDDLEWARE = [
    "portal.middleware.HealthCheckMiddleware",
    "portal.middleware.RejectNulBytesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.PortalMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.PortalUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.ErrorPagesMiddleware",  # innermost: sees the view's exceptions first
]
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "portal.context_processors.referrer_policy",
                "portal.csp.csp_nonce",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: opening a PostgreSQL connection per request cost 82 % of a core under load
# (issue 12); kept 60 s and checked at the start of each request, so a PostgreSQL restart is noticed
# and the connection replaced without restarting the portal. Development (DEBUG) keeps one per request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if DEBUG else 60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
# Seconds a new connection is retried while PostgreSQL refuses it (a restart); see portal.dbbackend.
DATABASE_CONNECT_RETRY_SECONDS = env.float("DATABASE_CONNECT_RETRY_SECONDS", default=3.0)
# Seconds one SQL statement of a web request may run before PostgreSQL cancels it (0: no limit), so one
# slow query cannot pin a gunicorn worker. Only web processes (portal.wsgi sets PORTAL_WEB_PROCESS):
# migrations, management commands and Celery tasks are not limited.
DATABASE_WEB_STATEMENT_TIMEOUT = env.float("DATABASE_WEB_STATEMENT_TIMEOUT", default=5.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "portal.dbbackend"
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3))
    if env.bool("PORTAL_WEB_PROCESS", default=False) and DATABASE_WEB_STATEMENT_TIMEOUT > 0:
        _timeout_ms = int(DATABASE_WEB_STATEMENT_TIMEOUT * 1000)
        _db_options["options"] = (
            f"{_db_options.get('options', '')} -c statement_timeout={_timeout_ms}".strip()
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The SQLite demo under gunicorn's threads: a writer waits up to 20 s for the lock instead of
    # failing at once, and transactions take the write lock when they begin, so two sign-ins cannot
    # both read and then deadlock upgrading to a write ("database is locked" 500s at 8 clients).
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("timeout", env.int("SQLITE_TIMEOUT", default=20))
    _db_options.setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if "redis" in CACHES["default"]["BACKEND"].lower():
    # A Redis that is down or hung must cost a request a fraction of a second, not hang it: every
    # cache use on a request path treats a cache error as a miss (or fails safe), see issue 12.
    _cache_timeout = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
    if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        CACHES["default"]["BACKEND"] = "portal.redis_cache.RedisCache"  # one client per pool
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": _cache_timeout, "socket_timeout": _cache_timeout}
    )
# Sessions: with Redis as the cache (production), read from Redis and written to both Redis and the
# database (``portal.sessions``, ``cached_db`` that keeps working from the database while Redis is
# down, so an outage or a restart signs nobody out). Without Redis (the SQLite demo, a local-memory
# cache that each process has its own copy of) sessions live in the database only.
SESSION_ENGINE = env.str(
    "SESSION_ENGINE",
    default="portal.sessions"
    if "redis" in CACHES["default"]["BACKEND"].lower()
    else "django.contrib.sessions.backends.db",
)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Staff sign in to the admin with a password, scoped to the portal whose host they use.
    "accounts.backends.PortalPasswordBackend",
    # SSO: mozilla-django-oidc's backend, extended to read every provider setting per config.
    "sso.backend.PortalOIDCBackend",
]
# USERNAME_FIELD (email) is unique per portal, not globally: our backends always scope by portal.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:dashboard"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format across the admin (portal/formats); customer pages pick theirs in the templates.
FORMAT_MODULE_PATH = ["portal.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded and fetched files (invoice PDFs from HaloPSA). Never served as static: the portal's views hand
# them out after checking who asks. FILE_STORAGE_BACKEND names another backend, e.g. django-storages'
# "storages.backends.s3.S3Storage" for S3-compatible storage (configured by its AWS_* settings).
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {
        "BACKEND": env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Bounded request bodies: oversized form input is refused with a 400, never processed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- mail -----------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":  # noqa: F821 (set just above)
    # django-environ reads filemail:///var/mail as the relative path "var/mail"; an operator
    # writing three slashes means the absolute directory /var/mail.
    _mail_url = urlsplit(env.str("EMAIL_URL"))
    EMAIL_FILE_PATH = "/" + _mail_url.path.lstrip("/") if _mail_url.path else str(BASE_DIR / _mail_url.netloc)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Billing portal <no-reply@billing-portal.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Development only: with DEBUG on and mail going to the console, it is also kept for the dev mailbox
# page /dev/mailbox/ (so a verification link can be clicked). django-environ cannot name a custom
# backend, hence this switch; DEVMAIL=false turns it off. The page itself answers 404 without DEBUG.
DEVMAIL_DIR = env.str("DEVMAIL_DIR", default=str(BASE_DIR / "var" / "devmail"))
if (
    DEBUG
    and env.bool("DEVMAIL", default=True)
    and globals().get("EMAIL_BACKEND") == "django.core.mail.backends.console.EmailBackend"
):
    EMAIL_BACKEND = "portal.devmail.DevMailboxBackend"

# --- Celery ---------------------------------------------------------------------------------
# With no broker configured, tasks run inline (the embedded demo default), whatever
# CELERY_TASK_ALWAYS_EAGER says: sent to the in-memory broker, no worker would ever run them (the
# sign-in mail would silently never leave). CELERY_TASK_ALWAYS_EAGER=true runs them inline even with
# a broker set (CONTRACT.md).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://" or env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=False
)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: fail fast, the outbox catches up.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
# Redis ignores CELERY_BROKER_CONNECTION_TIMEOUT: without socket timeouts a broker that accepts the TCP
# connection but never answers (or a black-holed host) hangs a publish for minutes. With them, a failed
# publish costs at most about 2 x CELERY_BROKER_SOCKET_TIMEOUT (one retry). The worker's event loop is not
# affected: it reads BRPOP replies only once the socket is readable.
_broker_socket_timeout = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=1.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_timeout": _broker_socket_timeout,
    "socket_connect_timeout": _broker_socket_timeout,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = TIME_ZONE
# A publish from a web request (the outbox) uses its own connection with this socket timeout and no
# retries: connect plus one command, so a hung or unreachable broker costs a request ~0.1 s in all.
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=0.05)
# How often beat re-queues mail whose publish failed: mail resumes within this after the broker returns.
OUTBOX_REQUEUE_INTERVAL = env.float("OUTBOX_REQUEUE_INTERVAL", default=10.0)
CELERY_BEAT_SCHEDULE = {
    # The outbox: re-queue mail whose first publish failed (e.g. the broker was down).
    "requeue-unsent-mail": {
        "task": "accounts.tasks.requeue_unsent_mail",
        "schedule": OUTBOX_REQUEUE_INTERVAL,
    },
    # Payments: ask Stripe about intents whose webhook never came; re-queue unsent payment mail;
    # AutoPay's daily run (due invoices, retries, upcoming-charge notices) hourly: it is idempotent.
    "payments-reconcile": {"task": "payments.tasks.reconcile_pending", "schedule": 300.0},
    "payments-requeue-notices": {"task": "payments.tasks.requeue_notices", "schedule": 60.0},
    # HaloPSA write-backs whose publish failed, whose back-off is over, or whose task was lost.
    "payments-requeue-writebacks": {"task": "payments.tasks.requeue_writebacks", "schedule": 60.0},
    "payments-autopay": {"task": "payments.tasks.autopay_run", "schedule": 3600.0},
    # Retention: old events, expired codes, verifications and sessions (see */retention.py).
    "prune-old-sso-events": {"task": "sso.tasks.prune_old_events", "schedule": crontab(minute=10, hour=3)},
    "prune-old-accounts-records": {
        "task": "accounts.tasks.prune_old_records",
        "schedule": crontab(minute=20, hour=3),
    },
    "prune-expired-sessions": {
        "task": "portal.tasks.prune_expired_sessions",
        "schedule": crontab(minute=30, hour=3),
    },
}
# Days the SSO event log and the audit trail are kept before the daily prune removes them.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=180)

# --- SSO ------------------------------------------------------------------------------------
SSO_ALLOW_INSECURE_HTTP = env.bool("SSO_ALLOW_INSECURE_HTTP", default=False)
SSO_HTTP_CONNECT_TIMEOUT = env.float("SSO_HTTP_CONNECT_TIMEOUT", default=3.05)
SSO_HTTP_READ_TIMEOUT = env.float("SSO_HTTP_READ_TIMEOUT", default=6.0)


# Networks besides public addresses that provider and HaloPSA API calls may reach (on-premise
# HaloPSA); an invalid CIDR stops the start rather than being ignored.
def _networks(name: str) -> list[str]:
    networks = []
    for net in env.list(name, default=[]):
        if not net.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(net.strip(), strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {net.strip()!r} is not a network (e.g. 10.0.0.0/8 or fd00::/8)."
            ) from None
    return networks


SSO_PROVIDER_ALLOWED_NETWORKS = _networks("SSO_PROVIDER_ALLOWED_NETWORKS")

# --- outbound calls (portal/outbound.py) ------------------------------------------------------
# One TOTAL deadline per call (connect and every read), and per login start or callback.
OUTBOUND_DEADLINE_SECONDS = env.float("OUTBOUND_DEADLINE_SECONDS", default=10.0)
OUTBOUND_MAX_BYTES = env.int("OUTBOUND_MAX_BYTES", default=512 * 1024)
# After a failed discovery or JWKS fetch, calls for that portal's issuer fail at once this long.
OUTBOUND_BREAKER_SECONDS = env.int("OUTBOUND_BREAKER_SECONDS", default=30)
# Concurrent calls per portal and issuer (all workers together). A call that finds them all taken
# waits for one, up to OUTBOUND_SLOT_WAIT_SECONDS and never more than half of what is left of its
# deadline (the other half is for the call): a burst of sign-ins queues instead of being refused,
# then it is refused as busy (503). The bound itself stays small: it is what one portal's hanging
# provider may take of the fleet's threads, and how hard the portal may hit a provider at once.
OUTBOUND_MAX_CONCURRENT = env.int("OUTBOUND_MAX_CONCURRENT", default=4)
OUTBOUND_SLOT_WAIT_SECONDS = env.float("OUTBOUND_SLOT_WAIT_SECONDS", default=5.0)
# Outbound calls one process makes at once; gunicorn.conf.py gives each worker twice as many
# threads, so hanging providers can never hold more than half of them (three quarters with the
# calls queued for a slot, see portal.outbound_transport.process_slot). 4 (8 threads): a login
# callback spends most of its time waiting on HaloPSA's token endpoint, and with 2 a worker
# refused the third concurrent sign-in as busy under `make loadtest`'s bursts.
OUTBOUND_MAX_CONCURRENT_PER_PROCESS = env.int("OUTBOUND_MAX_CONCURRENT_PER_PROCESS", default=4)
# Each process reads the cached discovery document and JWKS again after this many seconds (a
# document edited or refreshed elsewhere is seen here within it; see sso.discovery). 0: off.
SSO_DOCUMENT_MEMO_SECONDS = env.int("SSO_DOCUMENT_MEMO_SECONDS", default=30)
# The dashboard's money figures cached per customer set until an invoice changes (portal.invoice_figures);
# only with a shared cache: a per-process local-memory cache would miss other workers' changes.
DASHBOARD_FIGURES_CACHE_SECONDS = env.int(
    "DASHBOARD_FIGURES_CACHE_SECONDS", default=120 if "redis" in CACHES["default"]["BACKEND"].lower() else 0
)
SSO_DISCOVERY_TTL = env.int("SSO_DISCOVERY_TTL", default=24 * 3600)
SSO_DISCOVERY_STALE_TTL = env.int("SSO_DISCOVERY_STALE_TTL", default=7 * 24 * 3600)
SSO_JWKS_REFRESH_MIN_INTERVAL = env.int("SSO_JWKS_REFRESH_MIN_INTERVAL", default=60)
SSO_STATE_MAX_AGE = env.int("SSO_STATE_MAX_AGE", default=15 * 60)
SSO_CLOCK_LEEWAY = env.int("SSO_CLOCK_LEEWAY", default=60)
# An ID token whose iat lies further back than this (seconds, plus the leeway) is refused, even if exp is ahead.
SSO_MAX_TOKEN_AGE = env.int("SSO_MAX_TOKEN_AGE", default=600)

# What mozilla-django-oidc's request view reads from settings (see sso/views.py). Nothing
# provider-specific is set globally: endpoints, client ID, secret and scope come from the
# SSOConfig chosen by the URL key (login start) or by the login state (callback).
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_MAX_STATES = 20  # pending logins per browser session (parallel tabs); the oldest is dropped
OIDC_REDIRECT_REQUIRE_HTTPS = not DEBUG  # the library's own next check; ours is stricter (accounts.redirects)

# --- HaloPSA API -----------------------------------------------------------------------------
HALO_USER_AGENT = "BillingPortal/1.0 (HaloPSA invoice sync)"
HALO_PAGE_SIZE = env.int("HALO_PAGE_SIZE", default=500)
#: A bound on one pass of one list, whatever HaloPSA answers (5,000,000 rows at the default page size).
HALO_MAX_PAGES = env.int("HALO_MAX_PAGES", default=10_000)
HALO_REQUESTS_PER_MINUTE = env.int("HALO_REQUESTS_PER_MINUTE", default=300)
HALO_MAX_RETRIES = env.int("HALO_MAX_RETRIES", default=5)
HALO_BACKOFF_BASE_SECONDS = env.float("HALO_BACKOFF_BASE_SECONDS", default=1.0)
HALO_BACKOFF_MAX_SECONDS = env.float("HALO_BACKOFF_MAX_SECONDS", default=30.0)
HALO_REQUEST_TIMEOUT = env.float("HALO_REQUEST_TIMEOUT", default=20.0)
#: What a call a person waits on (sign-in check, PDF, admin action) may take in all, token included.
HALO_INTERACTIVE_SECONDS = env.float("HALO_INTERACTIVE_SECONDS", default=8.0)
HALO_SYNC_OVERLAP_SECONDS = env.int("HALO_SYNC_OVERLAP_SECONDS", default=120)
HALO_SYNC_LOCK_SECONDS = env.int("HALO_SYNC_LOCK_SECONDS", default=15 * 60)
HALO_FULL_SYNC_HOURS = env.int("HALO_FULL_SYNC_HOURS", default=24)
#: How old the synced "Can view their invoices" flag may be before a sign-in asks HaloPSA again.
HALO_ACCESS_MAX_AGE_SECONDS = env.int("HALO_ACCESS_MAX_AGE_SECONDS", default=300)
HALO_WEBHOOK_MAX_BYTES = 64 * 1024
HALO_PDF_MAX_BYTES = env.int("HALO_PDF_MAX_BYTES", default=10 * 1024 * 1024)
# One dispatcher a minute queues each portal's sync when its interval (or the nightly full) is due.
CELERY_BEAT_SCHEDULE["halo-sync-due"] = {"task": "halo.tasks.halo_sync_due", "schedule": 60.0}
# --- payments (Stripe) -----------------------------------------------------------------------
# Stripe's own by default; the demo and the tests point both at a localstripe on loopback.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_TIMEOUT = env.float("STRIPE_TIMEOUT", default=8.0)
# The library retries network errors with the same idempotency key, so a retry never charges twice.
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=1)
# Pending intents older than this are asked of Stripe by the reconcile task (a lost webhook).
PAYMENTS_RECONCILE_AFTER_SECONDS = env.int("PAYMENTS_RECONCILE_AFTER_SECONDS", default=120)
# A card check (3-D Secure) not finished after this long is taken as abandoned: the reconcile task
# cancels its intent at Stripe, so the invoice can be paid again.
PAYMENTS_ABANDONED_ACTION_SECONDS = env.int("PAYMENTS_ABANDONED_ACTION_SECONDS", default=30 * 60)
# What a payment request a person waits on (card form, Pay) may spend on Stripe in all, retries included.
PAYMENTS_INTERACTIVE_SECONDS = env.float("PAYMENTS_INTERACTIVE_SECONDS", default=9.0)

# --- accounts -------------------------------------------------------------------------------
LOGIN_CODE_TTL_MINUTES = 15
LOGIN_CODE_MAX_ATTEMPTS = 5
# The ceiling on sign-in code requests (so mails) one portal accepts a minute, all emails and
# addresses together.
LOGIN_CODE_MAILS_PER_PORTAL_PER_MINUTE = env.int("LOGIN_CODE_MAILS_PER_PORTAL_PER_MINUTE", default=60)
# Wrong codes per (portal, email) per UTC day, after which code sign-in for that email pauses for
# the rest of the day and the contact is told by mail.
LOGIN_CODE_DAILY_FAILURE_BUDGET = env.int("LOGIN_CODE_DAILY_FAILURE_BUDGET", default=20)
EMAIL_VERIFICATION_TTL_HOURS = env.int("EMAIL_VERIFICATION_TTL_HOURS", default=24)
# How many reverse proxies in front of the portal append to X-Forwarded-For. The client IP (rate
# limits, audit rows) is read that many entries from the right; 0 trusts no header at all, since a
# client can write anything there.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Admin password sign-in: free failures per (portal, email, client network) before a back-off that
# doubles from ADMIN_SIGNIN_BACKOFF_SECONDS up to ADMIN_SIGNIN_BACKOFF_MAX_SECONDS.
ADMIN_SIGNIN_FREE_FAILURES = env.int("ADMIN_SIGNIN_FREE_FAILURES", default=5)
ADMIN_SIGNIN_BACKOFF_SECONDS = env.int("ADMIN_SIGNIN_BACKOFF_SECONDS", default=60)
ADMIN_SIGNIN_BACKOFF_MAX_SECONDS = env.int("ADMIN_SIGNIN_BACKOFF_MAX_SECONDS", default=3600)
# Host names (ALLOWED_HOSTS patterns) on which superusers may sign in; empty: any host
# (``check --deploy`` warns).
ADMIN_HOSTS = env.list("ADMIN_HOSTS", default=[])

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # __Host- cookies are Secure, host-only and path=/: a sibling subdomain (another portal on a
    # shared parent domain) or a plain-http page cannot set or overwrite them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# Sources every page may load from (portal.csp); a feature needing another origin adds it here.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "https:"],  # a portal's logo may be any https URL
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
# Card payments: Stripe.js (or localstripe's stand-in) is loaded from, calls and frames its own origins.
_stripe_origins = sorted(
    {
        f"{urlsplit(u).scheme}://{urlsplit(u).netloc}"
        for u in (STRIPE_JS_URL, STRIPE_API_BASE)
        if urlsplit(u).netloc
    }
)
for _directive in ("script-src", "connect-src", "frame-src"):
    CONTENT_SECURITY_POLICY[_directive] = [*CONTENT_SECURITY_POLICY[_directive], *_stripe_origins]
if STRIPE_JS_URL.startswith("https://js.stripe.com/"):
    CONTENT_SECURITY_POLICY["frame-src"].append("https://hooks.stripe.com")  # 3-D Secure challenge frames

# --- logging: structured (one JSON object a line) to stdout ----------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # mozilla-django-oidc logs token-related debug output; keep it quiet.
        "mozilla_django_oidc": {"level": "WARNING"},
        # Stripe's library logs whole answer bodies at DEBUG, client secrets included; our outbound
        # client logs every call already.
        "stripe": {"level": "WARNING"},
    },
}
