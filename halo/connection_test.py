"""“Test API connection”: token, ``GET /api/AuthInfo``, one page of each list; names what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from portal import outbound

from .client import HaloAPIError, HaloClient, _cache_call
from .models import HaloConnection

LISTS = [("Client", "clients"), ("Users", "users"), ("Invoice", "invoices")]


@dataclass
class Step:
    name: str
    ok: bool
    message: str


@dataclass
class ConnectionTestResult:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)


def halo_connection_test(*, connection: HaloConnection) -> ConnectionTestResult:
    """All steps share one budget (``HALO_INTERACTIVE_SECONDS``): the admin waits on the page."""
    with outbound.budget(settings.HALO_INTERACTIVE_SECONDS):
        return _steps(connection)


def _steps(connection: HaloConnection) -> ConnectionTestResult:
    result = ConnectionTestResult()
    client = HaloClient(connection, interactive=True)  # an admin is waiting on the result
    _cache_call(cache.delete, client._token_key())  # test the credentials themselves, not a cached token
    try:
        client.token()
    except HaloAPIError as exc:
        message = exc.message
        if exc.reason in {"unreachable", "timeout"}:
            message += " Check the authorisation server URL."
        result.steps.append(Step("Token", False, message))
        return result
    result.steps.append(Step("Token", True, "HaloPSA issued an access token."))
    try:
        info = client.get("AuthInfo")
    except HaloAPIError as exc:
        hint = " Check the API URL (it usually ends in /api)." if exc.status == 404 else ""
        result.steps.append(Step("AuthInfo", False, exc.message + hint))
        return result
    tenant = outbound.safe_text(info.get("tenant_id") or "", 64) if isinstance(info, dict) else ""
    note = f" (tenant {tenant})" if tenant else ""
    result.steps.append(Step("AuthInfo", True, f"The API answered{note}."))
    for path, key in LISTS:
        try:
            page = client.page(path, key, page_no=1)
        except HaloAPIError as exc:
            result.steps.append(Step(path, False, exc.message))
            continue
        count = page.record_count if page.record_count is not None else f"{len(page.rows)}+"
        result.steps.append(Step(path, True, f"{count} records."))
    return result
