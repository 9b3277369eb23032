"""Provider discovery and signing keys, cached per issuer.

mozilla-django-oidc has neither discovery (its issue #280) nor JWKS caching (#324). We read
``<issuer>/.well-known/openid-configuration`` and require its ``issuer`` to equal the configured
one exactly (OpenID Connect Discovery §4.3; it is also the mix-up defence). Both documents are
cached in Django's cache for a long time; a failed refresh keeps serving the last good copy for
a while (``SSO_DISCOVERY_STALE_TTL``), so a provider blip does not lock everyone out. On an
unknown ``kid`` the JWKS is fetched again at most once per ``SSO_JWKS_REFRESH_MIN_INTERVAL`` per
issuer, so forged tokens with random kids cannot make us hammer the provider.
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from . import http
from .errors import SSOFlowError, from_http_error

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"


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

    @classmethod
    def from_document(cls, doc: dict, *, issuer: str) -> "ProviderMetadata":
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


def _cache_key(kind: str, url: str) -> str:
    return f"sso:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _load(kind: str, url: str, *, force: bool = False) -> tuple[dict, bool]:
    """(document, fetched_now): the fresh cached copy, else a new fetch, else the stale copy."""
    entry = cache.get(_cache_key(kind, url))
    if entry and not force and time.time() - entry["fetched_at"] < settings.SSO_DISCOVERY_TTL:
        return entry["doc"], False
    try:
        return http.get_json(url), True
    except http.ProviderHTTPError as exc:
        if entry:
            logger.warning(
                "serving stale %s after a failed refresh", kind, extra={"url": url, "reason": exc.reason}
            )
            return entry["doc"], False
        raise from_http_error(exc, what=kind) from exc


def _store(kind: str, url: str, doc: dict) -> None:
    """Keep a validated document; it stays usable as a stale copy until SSO_DISCOVERY_STALE_TTL."""
    cache.set(
        _cache_key(kind, url),
        {"doc": doc, "fetched_at": time.time()},
        timeout=settings.SSO_DISCOVERY_STALE_TTL,
    )


def provider_metadata(issuer: str) -> ProviderMetadata:
    """The provider's validated discovery metadata; raises SSOFlowError before any redirect."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    doc, fetched = _load("discovery", url)
    metadata = ProviderMetadata.from_document(doc, issuer=issuer)  # only a valid document is cached
    if fetched:
        _store("discovery", url, doc)
    return metadata


def provider_jwks(metadata: ProviderMetadata, *, refresh_for_kid: str | None = None) -> dict:
    """The provider's JWKS. With ``refresh_for_kid`` (a kid we did not find), fetch again once,
    rate-limited per issuer; otherwise answer from the cache."""
    force = False
    if refresh_for_kid is not None:
        gate = _cache_key("jwks-refresh", metadata.issuer)
        force = cache.add(gate, True, timeout=settings.SSO_JWKS_REFRESH_MIN_INTERVAL)
        if not force:
            logger.info("jwks refresh rate-limited", extra={"issuer": metadata.issuer})
    doc, fetched = _load("jwks", metadata.jwks_uri, force=force)
    if not isinstance(doc.get("keys"), list):
        raise SSOFlowError("jwks_invalid", "The JWKS document has no 'keys' list.", status=502)
    if fetched:
        _store("jwks", metadata.jwks_uri, doc)
    return doc


def forget_provider(issuer: str) -> None:
    """Drop cached documents for an issuer (after an admin edits the config)."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    entry = cache.get(_cache_key("discovery", url))
    cache.delete(_cache_key("discovery", url))
    if entry and isinstance(entry["doc"].get("jwks_uri"), str):
        cache.delete(_cache_key("jwks", entry["doc"]["jwks_uri"]))
