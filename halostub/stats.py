"""Per-path request counts, so tests can assert how many calls the portal made to its provider.

Kept in the server process's memory (the stand-in is one process): a test resets them, drives a
login, then reads them through ``/_control/stats``. The control API's own requests are not counted.
"""

import threading
from collections import Counter
from urllib.parse import parse_qs

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_tenants: dict[str, list[str | None]] = {}


def tenant_of(request) -> str | None:
    """The ``tenant`` parameter, from the query string or else a form-encoded body."""
    tenant = request.GET.get("tenant")
    if (
        tenant is None
        and request.method == "POST"
        and request.content_type == "application/x-www-form-urlencoded"
    ):
        # Parse the cached body ourselves so the view can still read the request as it likes.
        values = parse_qs(request.body.decode("utf-8", "replace")).get("tenant")
        tenant = values[0] if values else None
    return tenant


def record(request) -> None:
    tenant = tenant_of(request)
    with _lock:
        _counts[request.path] += 1
        _tenants.setdefault(request.path, []).append(tenant)


def snapshot() -> dict:
    with _lock:
        return {"counts": dict(_counts), "tenants": {path: list(v) for path, v in _tenants.items()}}


def reset() -> None:
    with _lock:
        _counts.clear()
        _tenants.clear()


class RequestCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/_control/"):
            record(request)
        return self.get_response(request)
