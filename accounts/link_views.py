"""The pages of a first SSO login: "check your email" and the emailed link.

Thin: the decisions are in ``verification`` (sending, resending) and ``link`` (which browser may
use a link, and how).
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from sso.session import sso_session_adopt

from .audit import client_ip
from .link import (
    email_verification_confirm,
    email_verification_continue,
    email_verification_deny,
    link_started_here,
    link_started_here_remember,
)
from .redirects import redirect_target, safe_next_url
from .selectors import email_verification_by_token, email_verification_for_session, mask_email
from .services import SESSION_BACKEND
from .sso_login import VERIFICATION_SESSION_KEY
from .verification import email_verification_resend
from .views import problem_page as _problem

#: How the sign-in provider is named on the pages of the link (the portal signs in through HaloPSA).
PROVIDER_NAME = "HaloPSA"


@never_cache
@require_http_methods(["GET", "POST"])
def check_email_view(request: HttpRequest) -> HttpResponse:
    """After a first SSO login: "check your email" with the masked address, and a resend button."""
    verification = email_verification_for_session(
        portal=request.portal, verification_id=request.session.get(VERIFICATION_SESSION_KEY)
    )
    if verification is None:
        messages.info(request, "Your sign-in has expired. Please sign in again.")
        return redirect("accounts:login")
    if request.method == "POST":
        outcome = email_verification_resend(identity=verification.identity, ip=client_ip(request))
        if outcome.status == "sent":
            request.session[VERIFICATION_SESSION_KEY] = outcome.verification.pk
            link_started_here_remember(session=request.session, verification=outcome.verification)
            messages.success(request, "We've sent a new link. Links in earlier emails no longer work.")
        elif outcome.status == "too_soon":
            messages.error(request, "We've just sent an email. Please wait a minute before asking again.")
        elif outcome.status in ("hourly_limit", "ip_limit"):
            messages.error(request, "Too many emails have been sent. Please wait an hour and try again.")
        elif outcome.status == "already_verified":
            messages.info(request, "Your email is already confirmed. Please sign in again.")
            return redirect("accounts:login")
        elif outcome.status == "denied":
            request.session.pop(VERIFICATION_SESSION_KEY, None)
            messages.error(
                request,
                "The owner of this email address said a sign-in with this account wasn't them, so no more "
                "links go to it. Please contact the portal's support.",
            )
            return redirect("accounts:login")
        else:
            messages.error(request, "We can't send a link for this sign-in. Please sign in again.")
            return redirect("accounts:login")
        return redirect("accounts:check_email")
    return render(
        request,
        "accounts/check_email.html",
        {
            "masked_email": mask_email(verification.email),
            "confirmed": verification.used_at is not None,
            "expires_at": verification.expires_at,
        },
    )


_LINK_PROBLEMS = {
    "malformed": (404, "This link is not valid", "Check that you copied the whole link from the email."),
    "unknown": (404, "This link is not valid", "Check that you copied the whole link from the email."),
    "used": (410, "This link has already been used", "Each link works once."),
    "superseded": (410, "A newer link was sent", "Use the link in the most recent email, or start again."),
    "expired": (410, "This link has expired", "Links work for a limited time."),
    "stale": (
        410,
        "This link is out of date",
        "Your sign-in provider now reports another email address for you.",
    ),
    "disabled": (403, "Account disabled", "This account has been disabled. Please contact support."),
}


def _link_problem(request: HttpRequest, status_key: str) -> HttpResponse:
    status, title, message = _LINK_PROBLEMS[status_key]
    return _problem(
        request,
        status=status,
        title=title,
        message=f"{message} To get a new link, sign in again.",
        action_label="Sign in again",
    )


def _no_referrer(response: HttpResponse) -> HttpResponse:
    """The link's URL holds the token: never pass it on in a Referer header, never cache the page."""
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _confirm_page(request: HttpRequest, verification, *, status: int = 200) -> HttpResponse:
    """What is being linked, by whom and when, so the mailbox owner can tell their own sign-in apart."""
    identity = verification.identity
    return render(
        request,
        "accounts/verify_confirm.html",
        {
            "provider_name": PROVIDER_NAME,
            "provider_person": identity.name or "an account with no name",
            "signed_in_at": verification.created_at,
            "masked_email": mask_email(verification.email),
            "started_here": link_started_here(session=request.session, verification=verification),
            "can_continue": identity.sso_config is not None and identity.sso_config.enabled,
        },
        status=status,
    )


def _continue_with_sso(request: HttpRequest, token: str) -> HttpResponse:
    outcome = email_verification_continue(
        portal=request.portal, token=token, session=request.session, ip=client_ip(request)
    )
    if outcome.status != "ok":
        return _link_problem(request, outcome.status)
    config = outcome.identity.sso_config
    if config is None or not config.enabled or config.portal_id != request.portal.pk:
        return _problem(
            request,
            status=409,
            title="Sign-in with HaloPSA is not available",
            message="This portal's HaloPSA sign-in has been changed or turned off since the email was sent. "
            "Start again from the sign-in page.",
        )
    next_url = safe_next_url(request=request, url=outcome.next_url)
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return redirect(reverse("sso:login", args=[config.key]) + query)


@csrf_protect
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link (see ``accounts.link`` for why the link alone links nothing).

    GET: a page saying which sign-in wants to open the account and when; nothing changes, so mail
    scanners that open links use nothing up. POST ``action``:
    - ``confirm`` (the browser that made the sign-in): verify, sign this browser in (the session key
      rotates) and leave the token's URL for the saved ``next`` (same host only) or the dashboard;
    - ``continue`` (any other browser): that browser's own SSO sign-in must return the same identity;
    - ``deny`` ("This wasn't me"): revoke the pending identity.
    """
    portal = request.portal
    if request.method == "GET":
        lookup = email_verification_by_token(portal=portal, token=token)
        if lookup.status != "ok":
            return _no_referrer(_link_problem(request, lookup.status))
        return _no_referrer(_confirm_page(request, lookup.verification))
    action = request.POST.get("action", "confirm")
    if action not in ("confirm", "continue", "deny"):
        # Only the page's three buttons: anything else changes nothing (it used to mean "confirm").
        return _no_referrer(
            _problem(
                request,
                status=400,
                title="That didn't work",
                message="Open the link from your email again and choose one of the buttons.",
            )
        )
    ip = client_ip(request)
    if action == "continue":
        return _no_referrer(_continue_with_sso(request, token))
    if action == "deny":
        outcome = email_verification_deny(portal=portal, token=token, ip=ip)
        if outcome.status != "ok":
            return _no_referrer(_link_problem(request, outcome.status))
        return _no_referrer(
            _problem(
                request,
                status=200,
                title="Thanks, nothing was linked",
                message=f"The sign-in through {PROVIDER_NAME} as {outcome.identity.name or 'that account'} "
                "will not open your billing account, and its link no longer works. If you think someone else "
                "knows your password, tell the portal's support.",
            )
        )
    outcome = email_verification_confirm(portal=portal, token=token, session=request.session, ip=ip)
    if outcome.status == "other_browser":
        return _no_referrer(_confirm_page(request, outcome.verification, status=403))
    if outcome.status == "no_invoice_access":
        return _no_referrer(render(request, "halo/no_invoice_access.html", status=403))
    if outcome.status != "ok":
        return _no_referrer(_link_problem(request, outcome.status))
    request.session.pop(VERIFICATION_SESSION_KEY, None)
    login(request, outcome.user, backend=SESSION_BACKEND)
    sso_session_adopt(request, identity=outcome.identity)
    return _no_referrer(redirect(redirect_target(request=request, url=outcome.next_url)))
