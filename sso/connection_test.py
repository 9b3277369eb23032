"""The admin's "Test connection": look at the provider as it is now and say what is wrong, plainly.

An admin setting up HaloPSA SSO copies an issuer URL, a client ID and maybe a secret from HaloPSA.
When one of them is wrong, a login fails far from where the mistake was made; this test fetches
the discovery document and the JWKS right away and names the value to fix (wrong issuer path,
http vs https, trailing slash, unreachable host, ...).

It deliberately bypasses the login flow's discovery/JWKS cache (and its circuit breaker): the
point is to see the provider as it answers now, e.g. right after the admin fixed something at
HaloPSA. It goes through ``portal.outbound`` (address policy, total deadline, byte cap, no
redirects followed) and makes at most two requests.

Staff choose the URL, so the answer may come from anything the portal can reach: the report shows
only the fields it checks (the document's issuer, the endpoints, key ids and algorithms, OAuth
``error``/``error_description``, the visible words of an error page), sanitised and capped, never a
redirect's target, a raw body or headers.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt

from portal.outbound import safe_text

from . import http
from .connection_fetch import fetch_json
from .discovery import forget_provider
from .events import sso_event_record
from .models import SSOConfig, SSOEvent
from .validators import insecure_http_allowed

OK, WARN, FAIL = "ok", "warn", "fail"
SYMBOLS = {OK: "✓", WARN: "!", FAIL: "✗"}
LABELS = {OK: "OK", WARN: "Warning", FAIL: "Problem"}
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok / warn / fail
    message: str

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def label(self) -> str:
        """The status in words, for screen readers beside the symbol."""
        return LABELS[self.status]

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "message": self.message}


@dataclass
class ConnectionReport:
    issuer: str
    checks: list[Check] = field(default_factory=list)

    def ok(self, name: str, message: str) -> None:
        self.checks.append(Check(name, OK, message))

    def warn(self, name: str, message: str) -> None:
        self.checks.append(Check(name, WARN, message))

    def fail(self, name: str, message: str) -> None:
        self.checks.append(Check(name, FAIL, message))

    @property
    def passed(self) -> bool:
        return not any(check.status == FAIL for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.status == WARN]

    def check(self, name: str) -> Check | None:
        """The named check, if it ran (handy in tests and templates)."""
        return next((check for check in self.checks if check.name == name), None)

    @property
    def summary(self) -> str:
        warnings = len(self.warnings)
        warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        if self.passed:
            return f"Connection test passed: {len(self.checks) - warnings} checks OK{warned}."
        first = self.failures[0]
        count = len(self.failures)
        return (
            f"Connection test failed ({count} problem{'s' if count != 1 else ''}{warned}). "
            f"{first.name}: {first.message}"
        )


# --- checks on the documents ---------------------------------------------------------------------


def _acceptable_url(value) -> bool:
    if not isinstance(value, str) or not value:
        return False
    parts = urlsplit(value)
    schemes = ("https", "http") if insecure_http_allowed() else ("https",)
    return parts.scheme in schemes and bool(parts.hostname)


def _policy_problem(value: str, *, what: str) -> str:
    """Why the outbound policy refuses an endpoint (its scheme or its addresses), or ""."""
    try:
        http.check_url(value, what=what)
    except http.OutboundError as exc:
        return exc.message
    return ""


def _issuer_hint(configured: str, reported: str) -> str:
    """What differs between the configured and the reported issuer, and what to do about it."""
    if reported.rstrip("/") == configured.rstrip("/"):
        if reported.endswith("/"):
            return (
                "The only difference is a trailing slash: the provider's issuer ends with “/”, and this "
                "portal stores issuers without one. Check the provider's public URL setting."
            )
        return "The only difference is a trailing slash: remove the “/” at the end of the issuer URL."
    c, r = urlsplit(configured.rstrip("/")), urlsplit(reported.rstrip("/"))
    if c.scheme != r.scheme and c.netloc.lower() == r.netloc.lower() and c.path == r.path:
        if r.scheme == "http":
            return (
                "The only difference is http vs https: the provider believes it is served over plain "
                "http, usually because a proxy or load balancer in front of it does not pass on the "
                "public scheme (X-Forwarded-Proto). Fix the provider's public URL setting."
            )
        return f"The only difference is http vs https: change the issuer URL to {reported}."
    if c.netloc.lower() == r.netloc.lower() and c.path != r.path:
        return (
            f"The path differs: the provider's issuer path is “{r.path or '/'}”, this config has "
            f"“{c.path or '/'}”. Change the issuer URL to {reported}."
        )
    if c.netloc.lower() == r.netloc.lower():
        return f"Change the issuer URL to exactly {reported}."
    return (
        f"The provider reports another host ({r.netloc}). If that is its public address, change the "
        f"issuer URL to {reported}; otherwise the provider's public URL setting is wrong."
    )


def _check_issuer(report: ConnectionReport, config: SSOConfig, doc: dict) -> None:
    reported = doc.get("issuer")
    if not isinstance(reported, str) or not reported:
        report.fail("Issuer", "The discovery document has no “issuer”, so no login can be checked.")
    elif reported == config.issuer:
        report.ok("Issuer", f"The document's issuer equals the configured issuer, {config.issuer}.")
    else:
        reported = safe_text(reported, 200)
        report.fail(
            "Issuer",
            f"The discovery document says the issuer is “{reported}”, but this config has “{config.issuer}”. "
            f"They must be equal exactly, or every login is refused. {_issuer_hint(config.issuer, reported)}",
        )


_ENDPOINTS = (
    ("authorization_endpoint", "Authorization endpoint", "people cannot be sent to sign in"),
    ("token_endpoint", "Token endpoint", "sign-in codes cannot be exchanged"),
    ("jwks_uri", "JWKS endpoint", "ID tokens cannot be verified"),
)


def _check_endpoints(report: ConnectionReport, doc: dict) -> None:
    for key, name, consequence in _ENDPOINTS:
        value = doc.get(key)
        if value in (None, ""):
            report.fail(name, f"The discovery document has no “{key}”: {consequence}.")
        elif not _acceptable_url(value):
            shown = safe_text(value, 200) if isinstance(value, str) else type(value).__name__
            report.fail(name, f"“{key}” is “{shown}”, which is not an https URL: {consequence}.")
        elif problem := _policy_problem(value, what=key):
            report.fail(name, f"{problem} Until then {consequence}.")
        else:
            report.ok(name, safe_text(value, 300))
    for key in ("userinfo_endpoint", "end_session_endpoint"):
        value = doc.get(key)
        if isinstance(value, str) and value and (problem := _policy_problem(value, what=key)):
            report.fail(
                key.replace("_", " ").capitalize(), f"{problem} Sign-ins are refused while it is there."
            )
    response_types = doc.get("response_types_supported")
    if isinstance(response_types, list) and "code" not in response_types:
        report.fail(
            "Response type",
            "The provider does not offer the authorization-code flow (“code” is missing from "
            "response_types_supported). In HaloPSA, use an application with the “Authorisation Code” method.",
        )


def _check_pkce(report: ConnectionReport, doc: dict) -> None:
    methods = doc.get("code_challenge_methods_supported")
    if methods is None:
        report.warn(
            "PKCE (S256)",
            "The provider does not advertise code_challenge_methods_supported. Logins send a S256 PKCE "
            "challenge anyway; HaloPSA's Authorisation Code (Native application) method supports it.",
        )
    elif isinstance(methods, list) and "S256" in methods:
        report.ok("PKCE (S256)", "The provider supports PKCE with S256.")
    else:
        report.fail(
            "PKCE (S256)",
            f"The provider's code_challenge_methods_supported is {_listed(methods)}, without S256: this portal "
            "always uses PKCE with S256 and the provider would refuse or ignore it.",
        )


def _listed(value, limit: int = 8) -> str:
    """A list of strings from the document, shown as the checked values they are (capped)."""
    if not isinstance(value, list):
        return "not a list"
    items = [safe_text(item, 40) for item in value[:limit] if isinstance(item, str)]
    more = f" and {len(value) - limit} more" if len(value) > limit else ""
    return (", ".join(items) or "empty") + more


@dataclass(frozen=True)
class _Key:
    kty: str
    kid: str
    alg: str
    crv: str

    def describe(self) -> str:
        bits = [self.kty + (f" {self.crv}" if self.crv else "")]
        if self.kid:
            bits.append(f"kid {self.kid[:40]}")
        if self.alg:
            bits.append(self.alg)
        return ", ".join(bits)


def _usable_keys(keys: list) -> tuple[list[_Key], list[str]]:
    """Signing keys we could verify an ID token with; a description of each one ignored."""
    usable, ignored = [], []
    for raw in keys:
        if not isinstance(raw, dict):
            ignored.append("an entry that is not a key object")
            continue
        kty, use = raw.get("kty"), raw.get("use")
        kid = safe_text(raw.get("kid") or "", 40)
        label = f"{safe_text(kty, 10)} key" + (f" {kid}" if kid else "")
        if kty not in ("RSA", "EC", "OKP"):
            ignored.append(f"a key of unknown type “{safe_text(kty, 20)}”")
            continue
        if use not in (None, "sig"):
            ignored.append(f"{label} (use “{safe_text(use, 20)}”, not for signatures)")
            continue
        key_ops = raw.get("key_ops")
        if isinstance(key_ops, list) and "verify" not in key_ops:
            ignored.append(f"{label} (key_ops without “verify”)")
            continue
        try:
            jwt.PyJWK(raw)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            ignored.append(f"{label} (unreadable)")
            continue
        usable.append(
            _Key(
                kty=kty,
                kid=kid,
                alg=safe_text(raw.get("alg") or "", 20),
                crv=safe_text(raw.get("crv") or "", 20),
            )
        )
    return usable, ignored


_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}


def _alg_fits(alg: str, key: _Key) -> bool:
    if key.alg and key.alg != alg:
        return False
    if alg[:2] in ("RS", "PS"):
        return key.kty == "RSA"
    if alg in _EC_CURVES:
        return key.kty == "EC" and (not key.crv or key.crv == _EC_CURVES[alg])
    if alg in ("EdDSA", "Ed25519", "Ed448"):
        return key.kty == "OKP"
    return False


def _check_keys(report: ConnectionReport, config: SSOConfig, doc: dict, jwks_uri) -> list[_Key] | None:
    if not _acceptable_url(jwks_uri):
        report.fail("Signing keys", "Not checked: the discovery document gives no usable jwks_uri.")
        return None
    jwks, elapsed = fetch_json(report, "Signing keys", jwks_uri, config=config, what="its signing keys")
    if jwks is None:
        return None
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        report.fail("Signing keys", f"The key set at {jwks_uri} has no “keys” list.")
        return None
    usable, ignored = _usable_keys(keys)
    ignored_text = f" Ignored {len(ignored)}: {'; '.join(ignored[:5])}." if ignored else ""
    if not usable:
        report.fail(
            "Signing keys",
            f"The key set at {jwks_uri} has no usable signing key (RSA, EC or OKP for signatures): ID tokens "
            f"cannot be verified.{ignored_text}",
        )
        return None
    described = "; ".join(key.describe() for key in usable[:5])
    count = len(usable)
    report.ok(
        "Signing keys",
        f"{count} usable signing key{'s' if count != 1 else ''} at {jwks_uri} ({described}), "
        f"fetched in {elapsed} ms.{ignored_text}",
    )
    return usable


def _check_algorithms(report: ConnectionReport, doc: dict, usable: list[_Key] | None) -> None:
    advertised = doc.get("id_token_signing_alg_values_supported")
    if not isinstance(advertised, list) or not advertised:
        effective = ["RS256"]
        missing_note = (
            "The provider does not list id_token_signing_alg_values_supported (the standard requires it); "
            "RS256 is expected."
        )
    else:
        effective = [safe_text(alg, 20) for alg in advertised[:20]]
        missing_note = ""
    asymmetric = [alg for alg in effective if alg != "none" and not alg.startswith("HS")]
    if not asymmetric:
        report.fail(
            "Signing algorithms",
            f"The provider signs ID tokens only with {', '.join(effective)}. This portal accepts only "
            "public-key signatures (e.g. RS256), never “none” or shared-secret HMAC.",
        )
        return
    if usable is None:
        return  # the key check already failed and said why
    fitting = [alg for alg in asymmetric if any(_alg_fits(alg, key) for key in usable)]
    if not fitting:
        kinds = ", ".join(sorted({key.kty for key in usable}))
        report.fail(
            "Signing algorithms",
            f"The provider signs ID tokens with {', '.join(asymmetric)}, but its key set holds only {kinds} "
            "keys for other algorithms: no key can verify its ID tokens.",
        )
    elif missing_note:
        report.warn("Signing algorithms", f"{missing_note} The key set has a key for it.")
    else:
        report.ok("Signing algorithms", f"ID tokens signed with {', '.join(fitting)} can be verified.")


def _check_client_auth(report: ConnectionReport, config: SSOConfig, doc: dict) -> None:
    advertised = doc.get("token_endpoint_auth_methods_supported")
    methods = [safe_text(m, 40) for m in advertised[:10]] if isinstance(advertised, list) else None
    if config.has_client_secret:
        usable = [
            m
            for m in (methods or ["client_secret_basic"])
            if m in ("client_secret_basic", "client_secret_post")
        ]
        if usable:
            report.ok("Client authentication", f"A client secret is set; the provider accepts {usable[0]}.")
        else:
            report.warn(
                "Client authentication",
                f"A client secret is set, but the provider lists only {', '.join(methods or [])} for the token "
                "endpoint; the code exchange may fail with invalid_client.",
            )
        return
    if methods is not None and "none" in methods:
        report.ok(
            "Client authentication", "No client secret (a public PKCE client); the provider accepts that."
        )
        return
    listed = f"lists only {', '.join(methods)}" if methods else "does not say which methods it accepts"
    report.warn(
        "Client authentication",
        f"No client secret is set (a public PKCE client), but the provider {listed}. If sign-ins fail with "
        "invalid_client, enter the application's client secret here, or use a HaloPSA application with "
        "the “Authorisation Code (Native application)” method, which needs none.",
    )


def _check_end_session(report: ConnectionReport, config: SSOConfig, doc: dict) -> None:
    endpoint = doc.get("end_session_endpoint")
    if _acceptable_url(endpoint):
        report.ok(
            "End-session endpoint",
            f"{safe_text(endpoint, 300)}: signing out of the portal also signs out at the provider.",
        )
        return
    landing = (
        f"people are then sent to {config.logout_redirect_url}"
        if config.logout_redirect_url
        else "people are then sent to the portal's login page"
    )
    report.warn(
        "End-session endpoint",
        "The provider advertises no end_session_endpoint: signing out will only end the portal session, "
        f"people stay signed in at the provider ({landing}).",
    )


def _check_scopes(report: ConnectionReport, config: SSOConfig, doc: dict) -> None:
    supported = doc.get("scopes_supported")
    if not isinstance(supported, list):
        return
    missing = [scope for scope in config.scope.split() if scope not in supported]
    if missing:
        report.warn(
            "Scopes",
            f"The provider does not list {', '.join(missing)} among its scopes; it may refuse or ignore "
            f"{'it' if len(missing) == 1 else 'them'}.",
        )
    else:
        report.ok("Scopes", f"The provider supports the requested scopes ({config.scope}).")


def run_checks(*, config: SSOConfig) -> ConnectionReport:
    """All checks, without writing anything (``sso_connection_test`` also logs the result)."""
    report = ConnectionReport(issuer=config.issuer)
    url = config.issuer.rstrip("/") + DISCOVERY_PATH
    doc, elapsed = fetch_json(report, "Discovery document", url, config=config, what="discovery")
    if doc is None:
        return report
    report.ok("Discovery document", f"Found it at {url} (answered in {elapsed} ms).")
    _check_issuer(report, config, doc)
    _check_endpoints(report, doc)
    _check_pkce(report, doc)
    usable = _check_keys(report, config, doc, doc.get("jwks_uri"))
    _check_algorithms(report, doc, usable)
    _check_client_auth(report, config, doc)
    _check_scopes(report, config, doc)
    _check_end_session(report, config, doc)
    return report


def sso_connection_test(*, config: SSOConfig, request=None) -> ConnectionReport:
    """Test the config against its provider now, and record the outcome in the SSO event log.

    A passing test also drops the login flow's cached discovery and keys for this issuer, so an
    admin who just fixed something at the provider sees the next sign-in use it at once.
    """
    report = run_checks(config=config)
    if report.passed:
        forget_provider(config.issuer, portal_id=config.portal_id)
    sso_event_record(
        portal=config.portal,
        config=config,
        outcome=SSOEvent.Outcome.TEST,
        reason="connection_test_passed" if report.passed else "connection_test_failed",
        message=report.summary,
        request=request,
        detail={"issuer": config.issuer, "checks": [check.as_dict() for check in report.checks]},
    )
    return report
