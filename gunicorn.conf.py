"""gunicorn settings for production (used automatically when gunicorn starts in this folder)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# Threads per worker (gthread): a request waiting on a provider or the database does not hold a whole
# process. Each thread keeps its own PostgreSQL connection (CONN_MAX_AGE), so a replica holds up to
# workers x threads connections; see the README's production notes.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Provider calls are bounded at ~10 s (SSO_HTTP_*_TIMEOUT); a worker is never stuck longer than this.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
# Access lines must not carry authorization codes or verification tokens.
logger_class = "portal.access_log.RedactingLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
