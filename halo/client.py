"""HaloPSA's API as a careful guest on an MSP's instance: every call through ``portal.outbound``.

- client-credentials token cached in the Django cache (shared by all workers) until shortly before
  it expires, and dropped on a 401 so the next call gets a fresh one;
- ``pageinate=true&page_size&page_no`` paging that stops at ``record_count`` (or a short page when an
  answer has none), refuses an answer without its list, and is bounded however HaloPSA answers
  (``Pages``): a pass that read fewer rows than HaloPSA counted is *incomplete*, and the sync marks
  nothing gone after it;
- 429 and 503 retried after ``Retry-After`` (or exponential back-off), a bounded number of times;
- a per-portal ceiling on requests per minute, counted in the cache, so several workers together
  stay under it;
- a ``User-Agent`` naming the product, so the MSP's HaloPSA admin knows who is calling;
- ``interactive=True`` for a call a person waits on (the sign-in check, a PDF, an admin action): one
  total budget of ``HALO_INTERACTIVE_SECONDS``, no 429/503 retries and no waiting out the ceiling,
  so a throttled HaloPSA costs them a friendly fallback, not minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache

from portal import outbound

from .models import HaloConnection

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 503}
TOKEN_EARLY_SECONDS = 60
#: A token is never kept longer than this, whatever ``expires_in`` says.
TOKEN_MAX_SECONDS = 24 * 3600
MAX_JSON_BYTES = 8 * 1024 * 1024


class HaloAPIError(Exception):
    """HaloPSA could not be asked, or refused. ``reason`` is stable; ``message`` names what is wrong."""

    def __init__(self, reason: str, message: str, *, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass
class Page:
    rows: list[dict]
    #: HaloPSA's count of all rows, or ``None`` when the answer had none (or an unreadable one).
    record_count: int | None
    page_no: int
    #: Entries of the list that were not objects: skipped, and the pass is then incomplete.
    dropped: int = 0


class HaloClient:
    def __init__(self, connection: HaloConnection, *, interactive: bool = False, sleep=time.sleep):
        self.connection = connection
        self.interactive = interactive
        self.calls = 0
        self._sleep = sleep

    def _budget(self):
        """A person waiting: the token and the call together get ``HALO_INTERACTIVE_SECONDS`` at most."""
        if self.interactive:
            return outbound.budget(settings.HALO_INTERACTIVE_SECONDS)
        return contextlib.nullcontext()

    # --- token ---------------------------------------------------------------------------------
    def _token_key(self) -> str:
        c = self.connection
        material = f"{c.token_url}|{c.tenant}|{c.client_id}|{c.client_secret}|{c.scope}"
        return f"halo:token:{c.portal_id}:{hashlib.sha256(material.encode()).hexdigest()[:32]}"

    def token(self) -> str:
        cached = _cache_call(cache.get, self._token_key())
        if cached:
            return cached
        c = self.connection
        # Encoded, never pasted: a tenant holding "&client_id=…" must not add parameters of its own.
        url = outbound.append_query(c.token_url, {"tenant": c.tenant}) if c.tenant else c.token_url
        with self._budget():
            response = self._send(
                "POST",
                url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "scope": c.scope,
                },
                authed=False,
            )
        if response.status_code != 200:
            error = _json_or_empty(response).get("error", "")
            # An OAuth error code is a short string; anything else (a list, an object, a page of text)
            # is no code, and what is shown to staff is cleaned and capped.
            error = outbound.safe_text(error, 64) if isinstance(error, str) else ""
            if error in {"invalid_client", "unauthorized_client"}:
                raise HaloAPIError(
                    "invalid_client",
                    "HaloPSA refused the client ID or secret (invalid_client): check both in the API application.",
                    status=response.status_code,
                )
            if error == "invalid_scope":
                raise HaloAPIError("invalid_scope", f"HaloPSA refused the scope “{c.scope}”.", status=400)
            if response.status_code == 404:
                raise HaloAPIError(
                    "auth_not_found", f"No token endpoint at {c.token_url} (HTTP 404).", status=404
                )
            hint = " Is the tenant missing or wrong?" if response.status_code == 400 else ""
            raise HaloAPIError(
                "token_refused",
                f"The token endpoint answered HTTP {response.status_code} {error}.{hint}".strip(),
                status=response.status_code,
            )
        data = _json_or_empty(response)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise HaloAPIError("token_refused", "The token endpoint answered without an access token.")
        try:
            lifetime = min(int(data.get("expires_in") or 3600), TOKEN_MAX_SECONDS)
        except (TypeError, ValueError, OverflowError, ArithmeticError):  # "Infinity", NaN, garbage
            lifetime = 3600
        if lifetime > TOKEN_EARLY_SECONDS:
            _cache_call(cache.set, self._token_key(), token, lifetime - TOKEN_EARLY_SECONDS)
        return token

    # --- requests ------------------------------------------------------------------------------
    def _throttle(self) -> None:
        """Wait (bounded) when this portal has used its requests for the current minute."""
        ceiling = settings.HALO_REQUESTS_PER_MINUTE
        if ceiling <= 0:
            return
        for _ in range(3):
            minute = int(time.time() // 60)
            key = f"halo:rpm:{self.connection.portal_id}:{minute}"
            try:
                cache.add(key, 0, 120)
                used = cache.incr(key)
            except ValueError:
                _cache_call(cache.set, key, 1, 120)
                used = 1
            except Exception:  # the cache is down: HaloPSA's own 429s still slow us down
                logger.warning("cache unavailable; HaloPSA request ceiling not enforced", exc_info=True)
                return
            if used <= ceiling:
                return
            if self.interactive:  # a person is waiting: never sleep out the minute for them
                break
            self._sleep(max(0.05, 60 - time.time() % 60))
        raise HaloAPIError("rate_limited", "This portal's request ceiling for HaloPSA is used up; try later.")

    def _send(self, method: str, url: str, *, authed: bool = True, **kwargs):
        headers = {"User-Agent": settings.HALO_USER_AGENT, "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        max_bytes = kwargs.pop("max_bytes", MAX_JSON_BYTES)
        max_retries = kwargs.pop("max_retries", 0 if self.interactive else settings.HALO_MAX_RETRIES)
        retried_token = False
        for attempt in range(max_retries + 1):
            if authed:
                headers["Authorization"] = f"Bearer {self.token()}"
            self._throttle()
            self.calls += 1
            try:
                response = outbound.request(
                    method,
                    url,
                    headers=headers,
                    deadline=settings.HALO_REQUEST_TIMEOUT,
                    max_bytes=max_bytes,
                    limit_key=f"halo:{self.connection.portal_id}",
                    what="The HaloPSA URL",
                    **kwargs,
                )
            except outbound.OutboundError as exc:
                raise HaloAPIError(exc.reason, exc.message, status=exc.status) from exc
            if authed and response.status_code == 401 and not retried_token:
                _cache_call(
                    cache.delete, self._token_key()
                )  # revoked or expired early: one fresh token, once
                retried_token = True
                continue
            if response.status_code in RETRY_STATUSES and attempt < max_retries:
                self._sleep(_retry_delay(response, attempt))
                continue
            return response
        return response

    def get(self, path: str, params: dict | None = None) -> dict | list:
        url = f"{self.connection.api_url.rstrip('/')}/{path}"
        with self._budget():
            response = self._send("GET", url, params=params or {})
        return _checked_json(response, path)

    def post(
        self, path: str, payload, *, raw: bool = False, max_bytes: int | None = None, retry: bool = True
    ):
        """POST; ``retry=False`` for a write that is not idempotent: a 503 from a proxy may come after
        HaloPSA stored it, so the caller checks what HaloPSA has before it tries again."""
        url = f"{self.connection.api_url.rstrip('/')}/{path}"
        kwargs = {"max_bytes": max_bytes} if max_bytes else {}
        if not retry:
            kwargs["max_retries"] = 0
        with self._budget():
            response = self._send("POST", url, json=payload, **kwargs)
        if raw:
            if response.status_code != 200:
                raise _status_error(response, path)
            return response
        return _checked_json(response, path)

    def page(self, path: str, key: str, *, page_no: int, params: dict | None = None) -> Page:
        """One page. An answer without its list is an error, never an empty page: read as empty, it would
        end a full pass early, and the sync would mark everything after it gone (void, inactive)."""
        query = {
            **(params or {}),
            "pageinate": "true",
            "page_size": settings.HALO_PAGE_SIZE,
            "page_no": page_no,
        }
        data = self.get(path, query)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise HaloAPIError("bad_answer", f"/{path} did not answer with a list under “{key}”.")
        record_count = data.get("record_count")
        if isinstance(record_count, bool) or not isinstance(record_count, int | str) or record_count == "":
            record_count = None
        else:
            try:
                record_count = max(0, int(record_count))
            except ValueError:
                record_count = None
        rows = [row for row in data[key] if isinstance(row, dict)]
        return Page(rows=rows, record_count=record_count, page_no=page_no, dropped=len(data[key]) - len(rows))

    def pages(self, path: str, key: str, *, params: dict | None = None, start_page: int = 1) -> Pages:
        """The pages from ``start_page`` on; iterate, then ask the reader whether the pass was ``complete``."""
        return Pages(self, path, key, params=params, start_page=start_page)


class Pages:
    """Pages until ``record_count`` rows are read, a page comes back empty, or (with no ``record_count``)
    a page comes back short. Bounded whatever HaloPSA answers: a page holding only rows already read
    (``page_no`` ignored, by HaloPSA or a proxy) is an error, and so is a pass of more than
    ``HALO_MAX_PAGES`` pages.

    ``complete`` is true after the last page only when every row HaloPSA counted was read as an object
    (a resumed pass counts the pages before ``start_page`` as read): the sync's "no longer listed, so
    gone" step trusts nothing less, since a missing row would be voided or lose its access.
    """

    def __init__(self, client: HaloClient, path: str, key: str, *, params: dict | None, start_page: int):
        self.client, self.path, self.key, self.params = client, path, key, params
        self.start_page = max(1, start_page)
        self.complete = False

    def __iter__(self) -> Iterator[Page]:
        size = settings.HALO_PAGE_SIZE
        page_no, expected, dropped = self.start_page, None, 0
        read = (self.start_page - 1) * size
        seen: set[str] = set()
        for _ in range(settings.HALO_MAX_PAGES):
            page = self.client.page(self.path, self.key, page_no=page_no, params=self.params)
            ids = {str(row["id"]) for row in page.rows if row.get("id") is not None}
            if ids and ids <= seen:
                raise HaloAPIError(
                    "bad_answer",
                    f"/{self.path} answered page {page_no} with rows of an earlier page: is page_no ignored?",
                )
            seen |= ids
            expected = page.record_count if expected is None else expected
            read, dropped = read + len(page.rows), dropped + page.dropped
            yield page
            listed = len(page.rows) + page.dropped
            if not listed:
                break
            if page.record_count is not None and page_no * size >= page.record_count:
                break
            if page.record_count is None and listed < size:
                break
            page_no += 1
        else:
            raise HaloAPIError(
                "bad_answer", f"/{self.path} went on for more than {settings.HALO_MAX_PAGES} pages."
            )
        self.complete = not dropped and (expected is None or read >= expected)


def payment_reference(row: dict) -> str:
    """The card processor's id a HaloPSA payment row carries: how the portal knows its own write-backs.

    ``thirdpartyid`` is what the portal sends (the Stripe intent of a payment, the Stripe refund of a
    refund). A row without one is matched by its ``intent_id`` only when it is a payment: a refund row
    carries its payment's intent too, and must never be taken for that payment. The write-back's
    "already posted?" check and the sync's linking both use this, so they never disagree about a row.
    """
    reference = str(row.get("thirdpartyid") or "")
    if not reference:
        try:
            payment = Decimal(str(row.get("amount"))) > 0
        except (InvalidOperation, ValueError):
            payment = False
        reference = str(row.get("intent_id") or "") if payment else ""
    return reference[:255]


def _cache_call(fn, *args):
    """A cache that is down costs a fresh token per client, never a failed sync."""
    try:
        return fn(*args)
    except Exception:
        logger.warning("cache unavailable for the HaloPSA client", exc_info=True)
        return None


def _retry_delay(response, attempt: int) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        delay = float(value)
    except ValueError:
        delay = settings.HALO_BACKOFF_BASE_SECONDS * (2**attempt)
    return max(0.0, min(delay, settings.HALO_BACKOFF_MAX_SECONDS))


def _json_or_empty(response) -> dict:
    try:
        data = json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _status_error(response, path: str) -> HaloAPIError:
    status = response.status_code
    if status in (401, 403):
        return HaloAPIError(
            "forbidden",
            f"HaloPSA refused /{path} (HTTP {status}): give the API application's agent permission to read it, "
            "or a wider scope.",
            status=status,
        )
    if status == 404:
        return HaloAPIError("not_found", f"/{path} was not found (HTTP 404).", status=404)
    if status in RETRY_STATUSES:
        return HaloAPIError("throttled", f"HaloPSA kept answering HTTP {status} to /{path}.", status=status)
    return HaloAPIError("bad_status", f"HaloPSA answered HTTP {status} to /{path}.", status=status)


def _checked_json(response, path: str):
    if response.status_code not in (200, 201):
        raise _status_error(response, path)
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python can read
        raise HaloAPIError("not_json", f"/{path} did not answer with JSON we can read.") from exc
