"""Provider discovery and signing keys, cached per issuer.

mozilla-django-oidc has neither discovery (its issue #280) nor JWKS caching (#324). We read
``<issuer>/.well-known/openid-configuration`` and require its ``issuer`` to equal the configured
one exactly (OpenID Connect Discovery §4.3; it is also the mix-up defence). Both documents are
cached in Django's cache for a long time; a failed refresh keeps serving the last good copy for
a while (``SSO_DISCOVERY_STALE_TTL``), so a provider blip does not lock everyone out. On an
unknown ``kid`` the JWKS is fetched again at most once per ``SSO_JWKS_REFRESH_MIN_INTERVAL`` per
issuer, so forged tokens with random kids cannot make us hammer the provider.

The cache may be down (Redis unreachable): then, and when the cache simply lacks a document, the
copy kept in PostgreSQL (``ProviderDocument``, written whenever a document is fetched) is used,
with the same freshness rules; the JWKS refetch gate falls back to one per process.

In front of the cache, each process keeps what it last read for ``SSO_DOCUMENT_MEMO_SECONDS``
(30 s by default; 0 turns it off), so a callback does not round-trip to Redis for two documents
that change about never. The memo holds the cache entry itself, so the freshness rules above
still apply to it. Bounds: a document refreshed or dropped by another process (``forget_provider``
after a config edit) is seen here within that TTL; in this process at once. A JWKS refetch for an
unknown ``kid`` skips the memo and reads the cache, so keys rotated in by another worker are used
here at once. Circuit breakers are never memoized.

Every endpoint the document names is held to the outbound policy when the document is parsed
(https, public or allowed addresses; see ``portal.outbound``), and again by the transport when it
is called. A failed fetch opens a short circuit breaker for the portal's issuer, so a broken
config's login starts answer from that failure at once instead of each waiting on the provider.
"""

import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from portal import safe_cache

from . import http
from .errors import SSOFlowError, from_http_error, outbound_public_message
from .models import ProviderDocument

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
# Endpoints taken from the document: the first three are required.
ENDPOINT_FIELDS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
)


def breaker_key(*, issuer: str, portal_id: int | None) -> str:
    """The circuit breaker's and concurrency bound's key: per portal AND issuer, so one portal's
    broken or hostile provider config never refuses another portal's sign-ins."""
    return f"sso:{portal_id if portal_id is not None else '-'}|{issuer}"


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    end_session_endpoint: str = ""
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    code_challenge_methods_supported: tuple[str, ...] = field(default_factory=tuple)
    breaker: str = ""  # see breaker_key()

    @classmethod
    def from_document(cls, doc: dict, *, issuer: str, resolve: bool = True) -> "ProviderMetadata":
        """The validated metadata; with ``resolve`` every endpoint's host is also resolved and its
        addresses checked (a cached document was checked when it was fetched)."""
        found = doc.get("issuer")
        if found != issuer:
            raise SSOFlowError(
                "issuer_mismatch",
                f"The discovery document's issuer is {found!r}, but the config says {issuer!r}. "
                "They must be identical: fix the issuer URL in the config.",
                status=502,
            )
        missing = [
            k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not _is_str(doc.get(k))
        ]
        if missing:
            raise SSOFlowError(
                "discovery_incomplete", f"The discovery document lacks {', '.join(missing)}.", status=502
            )
        for name in ENDPOINT_FIELDS:
            if _is_str(doc.get(name)):
                try:
                    http.check_url(doc[name], what=name, resolve=resolve)
                except http.OutboundError as exc:
                    raise SSOFlowError(
                        f"discovery_endpoint_{exc.reason}",
                        f"The discovery document's {exc.message}",
                        status=502,
                        public_message=outbound_public_message(exc.reason),
                    ) from exc
        return cls(
            issuer=issuer,
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            userinfo_endpoint=_str(doc.get("userinfo_endpoint")),
            end_session_endpoint=_str(doc.get("end_session_endpoint")),
            id_token_signing_alg_values_supported=_strings(doc.get("id_token_signing_alg_values_supported"))
            or ("RS256",),
            token_endpoint_auth_methods_supported=_strings(doc.get("token_endpoint_auth_methods_supported"))
            or ("client_secret_basic",),
            code_challenge_methods_supported=_strings(doc.get("code_challenge_methods_supported")),
        )


def _is_str(value) -> bool:
    return isinstance(value, str) and bool(value)


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def _strings(value) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _cache_key(kind: str, url: str) -> str:
    return f"sso:{kind}:{_url_hash(url)}"


def _kept_copy(kind: str, url: str) -> dict | None:
    """The copy in PostgreSQL, as a cache entry, if it is still within the stale window."""
    row = ProviderDocument.objects.filter(kind=kind, url_hash=_url_hash(url)).first()
    if row is None:
        return None
    entry = {"doc": row.document, "fetched_at": row.fetched_at.timestamp()}
    if time.time() - entry["fetched_at"] >= settings.SSO_DISCOVERY_STALE_TTL:
        return None
    return entry


_memo: dict[tuple[str, str], tuple[float, dict]] = {}
_memo_lock = threading.Lock()
_MEMO_MAX_ENTRIES = 1024
_clock = time.monotonic  # the memo's clock (tests move it on)


def _memo_get(kind: str, url: str) -> dict | None:
    seconds = settings.SSO_DOCUMENT_MEMO_SECONDS
    if seconds <= 0:
        return None
    found = _memo.get((kind, url))
    if found is None or _clock() - found[0] >= seconds:
        return None
    return found[1]


def _memo_put(kind: str, url: str, entry: dict) -> None:
    if settings.SSO_DOCUMENT_MEMO_SECONDS <= 0:
        return
    with _memo_lock:
        if len(_memo) >= _MEMO_MAX_ENTRIES:  # many issuers: start over rather than grow
            _memo.clear()
        _memo[(kind, url)] = (_clock(), entry)


def forget_memo() -> None:
    """Drop this process's memo (``forget_provider``; tests)."""
    with _memo_lock:
        _memo.clear()


def _load(
    kind: str, url: str, *, breaker: str, what: str, force: bool = False, shared: bool = False
) -> tuple[dict, bool]:
    """(document, fetched_now): the fresh cached copy, else a new fetch, else the stale copy.
    "Cached" is this process's memo (not with ``shared``), the cache, or when that is down or
    lacks it, the copy in PostgreSQL."""
    entry = None if shared else _memo_get(kind, url)
    if entry is None:
        entry = safe_cache.get(_cache_key(kind, url))
        if entry is None:
            entry = _kept_copy(kind, url)
            if entry is not None:
                safe_cache.set(_cache_key(kind, url), entry, timeout=_cache_timeout(entry))
        if entry is not None:
            _memo_put(kind, url, entry)
    if entry and not force and time.time() - entry["fetched_at"] < settings.SSO_DISCOVERY_TTL:
        return entry["doc"], False
    try:
        return http.get_json(url, breaker_key=breaker, what=what), True
    except http.ProviderHTTPError as exc:
        if entry:
            logger.warning(
                "serving stale %s after a failed refresh", kind, extra={"url": url, "reason": exc.reason}
            )
            return entry["doc"], False
        raise from_http_error(exc, what=kind) from exc


def _cache_timeout(entry: dict) -> int:
    return max(1, int(settings.SSO_DISCOVERY_STALE_TTL - (time.time() - entry["fetched_at"])))


def _store(kind: str, url: str, doc: dict) -> None:
    """Keep a validated document, in the cache and in PostgreSQL; it stays usable as a stale copy
    until SSO_DISCOVERY_STALE_TTL."""
    now = time.time()
    entry = {"doc": doc, "fetched_at": now}
    safe_cache.set(_cache_key(kind, url), entry, timeout=settings.SSO_DISCOVERY_STALE_TTL)
    _memo_put(kind, url, entry)
    ProviderDocument.objects.update_or_create(
        kind=kind,
        url_hash=_url_hash(url),
        defaults={"url": url, "document": doc, "fetched_at": datetime.fromtimestamp(now, tz=UTC)},
    )


_local_gates: dict[str, float] = {}
_local_gates_lock = threading.Lock()


def _refresh_allowed(issuer: str) -> bool:
    """At most one JWKS refetch per SSO_JWKS_REFRESH_MIN_INTERVAL per issuer: across all workers
    through the cache, or, while the cache is down, per process."""
    gate = _cache_key("jwks-refresh", issuer)
    allowed = safe_cache.add(gate, True, timeout=settings.SSO_JWKS_REFRESH_MIN_INTERVAL, default=None)
    if allowed is not None:
        return allowed
    now = time.monotonic()
    with _local_gates_lock:
        if now < _local_gates.get(issuer, 0.0):
            return False
        _local_gates[issuer] = now + settings.SSO_JWKS_REFRESH_MIN_INTERVAL
        return True


def provider_metadata(issuer: str, *, portal_id: int | None = None) -> ProviderMetadata:
    """The provider's validated discovery metadata; raises SSOFlowError before any redirect.
    ``portal_id`` scopes the circuit breaker (see ``breaker_key``)."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    breaker = breaker_key(issuer=issuer, portal_id=portal_id)
    doc, fetched = _load("discovery", url, breaker=breaker, what="The issuer")
    try:
        metadata = ProviderMetadata.from_document(doc, issuer=issuer, resolve=fetched)
    except SSOFlowError as exc:
        if fetched:
            http.breaker_open(breaker, http.OutboundError("policy", exc.message))
        raise
    if fetched:
        _store("discovery", url, doc)  # only a valid document is cached
    return dataclasses.replace(metadata, breaker=breaker)


def provider_jwks(metadata: ProviderMetadata, *, refresh_for_kid: str | None = None) -> dict:
    """The provider's JWKS. With ``refresh_for_kid`` (a kid we did not find), fetch again once,
    rate-limited per issuer; otherwise answer from the cache."""
    force = False
    if refresh_for_kid is not None:
        force = _refresh_allowed(metadata.issuer)
        if not force:
            logger.info("jwks refresh rate-limited", extra={"issuer": metadata.issuer})
    breaker = metadata.breaker or breaker_key(issuer=metadata.issuer, portal_id=None)
    doc, fetched = _load(
        "jwks",
        metadata.jwks_uri,
        breaker=breaker,
        what="jwks_uri",
        force=force,
        shared=refresh_for_kid is not None,
    )
    if not isinstance(doc.get("keys"), list):
        if fetched:
            http.breaker_open(
                breaker, http.OutboundError("not_json", "The JWKS document has no 'keys' list.")
            )
        raise SSOFlowError("jwks_invalid", "The JWKS document has no 'keys' list.", status=502)
    if fetched:
        _store("jwks", metadata.jwks_uri, doc)
    return doc


def forget_provider(issuer: str, *, portal_id: int | None = None) -> None:
    """Drop cached documents for an issuer (after an admin edits the config or a connection test
    passes), and close the portal's circuit breaker for it."""
    http.breaker_close(breaker_key(issuer=issuer, portal_id=portal_id))
    forget_memo()
    url = issuer.rstrip("/") + DISCOVERY_PATH
    entry = safe_cache.get(_cache_key("discovery", url)) or _kept_copy("discovery", url)
    safe_cache.delete(_cache_key("discovery", url))
    urls = [(ProviderDocument.Kind.DISCOVERY, url)]
    if entry and isinstance(entry["doc"].get("jwks_uri"), str):
        safe_cache.delete(_cache_key("jwks", entry["doc"]["jwks_uri"]))
        urls.append((ProviderDocument.Kind.JWKS, entry["doc"]["jwks_uri"]))
    for kind, kept_url in urls:
        ProviderDocument.objects.filter(kind=kind, url_hash=_url_hash(kept_url)).delete()
