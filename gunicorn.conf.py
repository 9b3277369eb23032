"""gunicorn settings for production (used automatically when gunicorn starts in this folder).

Threads (``gthread``), so a request waiting on a slow identity provider or the database holds one
thread, not a whole worker. Each worker makes at most ``OUTBOUND_MAX_CONCURRENT_PER_PROCESS``
outbound calls at once (portal/outbound_transport.py) and gets twice that many threads; at most
half as many again may queue for a slot: however badly a provider behaves, a quarter of every
worker's threads stay free for other portals' pages and /healthz. Each outbound call, and each login start or callback, ends within
``OUTBOUND_DEADLINE_SECONDS`` (10 s).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# Each thread keeps its own PostgreSQL connection (CONN_MAX_AGE), so a replica holds up to
# workers x threads connections; see the README's production notes. Twice the outbound bound (4).
_outbound_per_process = int(os.environ.get("OUTBOUND_MAX_CONCURRENT_PER_PROCESS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", str(2 * _outbound_per_process)))
# Provider calls end within OUTBOUND_DEADLINE_SECONDS; no request holds a thread anywhere near this.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
# Access lines must not carry authorization codes or verification tokens.
logger_class = "portal.access_log.RedactingLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
