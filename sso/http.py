"""The one way the portal talks to identity providers: bounded timeouts, no retries, timed calls.

A provider that is down or slow must give the person a friendly page within about ten seconds,
never a hung worker; so every call has connect and read timeouts and redirects are not followed
(an OpenID provider has no reason to redirect its API endpoints, and following one could leave
the configured host). Each call is recorded in ``calls`` of the current ``CallLog`` so the
admin's Try sign-in can show how long each provider call took.
"""

import contextvars
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 512 * 1024


class ProviderHTTPError(Exception):
    """The provider could not be reached or answered something unusable."""

    def __init__(self, reason: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass
class Call:
    method: str
    url: str
    status: int | None
    duration_ms: int


@dataclass
class CallLog:
    calls: list[Call] = field(default_factory=list)


_current_log: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar("sso_call_log", default=None)


def start_call_log() -> CallLog:
    log = CallLog()
    _current_log.set(log)
    return log


def append_query(url: str, params: dict) -> str:
    """``url`` with ``params`` added to whatever query string the provider's endpoint already has."""
    if not params:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _timeout() -> tuple[float, float]:
    return (settings.SSO_HTTP_CONNECT_TIMEOUT, settings.SSO_HTTP_READ_TIMEOUT)


def request(method: str, url: str, **kwargs) -> requests.Response:
    """Send one request to a provider. Raises ProviderHTTPError for network failures only."""
    timeout = kwargs.pop("timeout", None) or _timeout()
    kwargs.setdefault("allow_redirects", False)
    started = time.monotonic()
    status = None
    try:
        response = requests.request(method, url, timeout=timeout, **kwargs)
        status = response.status_code
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise ProviderHTTPError(
                "response_too_large", f"{url} answered with more than {MAX_RESPONSE_BYTES} bytes."
            )
        return response
    except requests.Timeout as exc:
        raise ProviderHTTPError("timeout", f"{url} did not answer within the timeout.") from exc
    except requests.ConnectionError as exc:
        raise ProviderHTTPError("unreachable", f"Could not connect to {url}.") from exc
    except requests.RequestException as exc:
        raise ProviderHTTPError(
            "http_error", f"The request to {url} failed: {exc.__class__.__name__}."
        ) from exc
    finally:
        duration_ms = int((time.monotonic() - started) * 1000)
        log = _current_log.get()
        if log is not None:
            log.calls.append(Call(method=method, url=url, status=status, duration_ms=duration_ms))
        # URLs only: never bodies, headers, codes or tokens.
        logger.info(
            "provider call",
            extra={"method": method, "url": url, "status": status, "duration_ms": duration_ms},
        )


def get_json(url: str, **kwargs) -> dict:
    """GET a JSON object; raise ProviderHTTPError with a precise reason when it is not one."""
    response = request("GET", url, headers={"Accept": "application/json"}, **kwargs)
    if response.status_code != 200:
        raise ProviderHTTPError(
            "bad_status", f"{url} answered HTTP {response.status_code}.", status=response.status_code
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderHTTPError("not_json", f"{url} did not answer with JSON.", status=200) from exc
    if not isinstance(data, dict):
        raise ProviderHTTPError("not_json", f"{url} did not answer with a JSON object.", status=200)
    return data
