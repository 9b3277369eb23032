"""Try sign-in: an admin runs a real login with one config and sees what came back.

The setup guide used to say "test in a private window", because a portal login would replace the
admin's own session. A dry run is marked in its state; its callback signs nobody in and leaves
the admin's session as it was (only the used state entry is removed). It shows each step passed
or failed with the reason, the claims, whether a contact on this portal has that email, and how
long each provider call took. Only staff of the config's portal may start one, and the result is
also written to the event log.
"""

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from portal.dates import admin_datetime
from portal.models import Contact

from . import http
from .backend import PortalOIDCBackend
from .discovery import provider_metadata
from .errors import SSOFlowError
from .events import sso_event_record
from .models import SSOEvent

HIDDEN_CLAIMS = {"nonce", "at_hash", "c_hash"}
#: Claims that are seconds since the epoch (RFC 7519, OpenID Connect Core).
TIME_CLAIMS = {"iat", "exp", "nbf", "auth_time", "updated_at"}


@dataclass
class Step:
    name: str
    ok: bool
    message: str = ""


@dataclass
class DryRunReport:
    steps: list[Step] = field(default_factory=list)
    claims: dict = field(default_factory=dict)
    contact_matches: bool | None = None
    calls: list[http.Call] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.ok for step in self.steps) and bool(self.steps)

    @property
    def other_claims(self) -> dict:
        return {k: v for k, v in self.claims.items() if k not in {"sub", "email", "name"} | HIDDEN_CLAIMS}

    @property
    def claim_rows(self) -> list[tuple[str, str, str]]:
        """(claim, shown value, raw value): times as admin dates, not epoch numbers."""
        rows = []
        for key, value in self.other_claims.items():
            shown = str(value)
            if key in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
                with contextlib.suppress(OverflowError, OSError, ValueError):  # out of range: as sent
                    shown = admin_datetime(datetime.fromtimestamp(value, tz=UTC)) + " UTC"
            rows.append((key, shown, str(value)))
        return rows


def may_dry_run(user, config) -> bool:
    """Staff of the config's portal (or a superuser), signed in on this portal's host."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.portal_id == config.portal_id


def dry_run_provider_error(*, request, config, error: str, description: str) -> DryRunReport:
    """The provider sent the admin back with ``error=`` (cancelled, ``login_required``, its own
    failure): a failed first step in the report, the admin's session left as it was."""
    message = f"The provider answered error={error!r}" + (f": {description}" if description else "")
    report = DryRunReport(steps=[Step("Authorization at the provider", False, message)])
    _record(request=request, config=config, report=report)
    return report


def _record(*, request, config, report: DryRunReport) -> None:
    failed = next((s for s in report.steps if not s.ok), None)
    sso_event_record(
        portal=config.portal,
        config=config,
        outcome=SSOEvent.Outcome.DRY_RUN,
        reason="dry_run_passed" if failed is None else "dry_run_failed",
        message=f"Try sign-in by {request.user.email}: "
        + ("all checks passed." if failed is None else f"{failed.name} failed: {failed.message}"),
        request=request,
        sub=str(report.claims.get("sub", "")),
        email=str(report.claims.get("email", "")),
        detail={"calls": [{"url": c.url, "status": c.status, "ms": c.duration_ms} for c in report.calls]},
    )


def dry_run_callback(*, request, config, pending) -> DryRunReport:
    report = DryRunReport()
    log = http.start_call_log()
    backend = PortalOIDCBackend()
    backend.request, backend.config = request, config

    def step(name: str, fn):
        try:
            value = fn()
        except SSOFlowError as exc:
            report.steps.append(Step(name, False, f"{exc.message} [{exc.reason}]"))
            raise
        report.steps.append(Step(name, True))
        return value

    try:
        backend.metadata = step(
            "Discovery document and issuer",
            lambda: provider_metadata(config.issuer, portal_id=config.portal_id),
        )
        tokens = step(
            "Token exchange (code, PKCE verifier, client authentication)",
            lambda: backend.get_token(
                {
                    "grant_type": "authorization_code",
                    "code": request.GET.get("code", ""),
                    "redirect_uri": config.callback_url,
                    "code_verifier": pending.code_verifier,
                }
            ),
        )
        claims = step(
            "ID token: signature, iss, aud, azp, exp, iat, nonce, sub",
            lambda: backend.verify_token(tokens.get("id_token"), nonce=pending.nonce),
        )
        claims = step(
            "Claims (userinfo only when the ID token has no email)",
            lambda: backend.get_userinfo(tokens.get("access_token"), tokens.get("id_token"), claims),
        )
        report.claims = claims
        step("Email claim present and valid", lambda: backend.verify_claims(claims))
        report.contact_matches = Contact.objects.filter(
            customer__portal=config.portal, email__iexact=claims["email"].strip()
        ).exists()
    except SSOFlowError:
        pass
    report.calls = list(log.calls)
    _record(request=request, config=config, report=report)
    return report
