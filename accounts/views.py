"""Sign-in pages: the email code, the SSO buttons and sign-out (the link's pages: ``link_views``).

Thin: every decision is in ``login_code``, ``code_budget``, ``ratelimit`` and ``services``.
"""

import math
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from sso.logout import sso_logout_url
from sso.selectors import sso_login_buttons

from .audit import AuditKind, audit_record, client_ip
from .code_budget import code_signin_paused_until
from .forms import EmailLoginForm, LoginCodeForm
from .login_code import login_code_check, login_code_request
from .ratelimit import (
    CODE_ATTEMPTS_PER_IP,
    CODE_REQUESTS_PER_EMAIL,
    CODE_REQUESTS_PER_IP,
    UNAVAILABLE_RETRY_SECONDS,
    RateLimitUnavailable,
    code_mails_per_portal,
    rate_limit_hit,
    retry_phrase,
)
from .redirects import redirect_target, safe_next_url
from .services import SESSION_BACKEND, normalize_email, session_logout

# Session keys of the email-code flow (between /login/ and /login/code/).
LOGIN_EMAIL_KEY = "accounts.login_email"
LOGIN_NEXT_KEY = "accounts.login_next"
LOGIN_FAILURES_KEY = "accounts.login_failures"

WRONG_CODE = "That code isn't right, or it has expired. Check the email and try again, or ask for a new code."
TOO_MANY_TRIES = "Too many wrong tries for this code. Ask for a new code below."


def problem_page(
    request: HttpRequest,
    *,
    status: int,
    title: str,
    message: str,
    action_url: str = "",
    action_label: str = "",
) -> HttpResponse:
    return render(
        request,
        "accounts/problem.html",
        {
            "title": title,
            "message": message,
            "action_url": action_url or reverse("accounts:login"),
            "action_label": action_label or "Go to the sign-in page",
        },
        status=status,
    )


def _sso_only_refusal(request: HttpRequest) -> HttpResponse:
    return problem_page(
        request,
        status=403,
        title="Sign in with your provider",
        message=f"{request.portal.name} signs people in through single sign-on only; "
        "sign-in codes by email are switched off.",
    )


def _limits_unavailable(request: HttpRequest) -> HttpResponse:
    """The rate limits cannot be counted (the cache is down): refuse rather than run unlimited."""
    response = problem_page(
        request,
        status=503,
        title="Please try again in a minute",
        message="Sign-in codes cannot be checked or sent right now. Please try again in a minute"
        + (", or use the single sign-on button." if request.portal.sso_configs.exists() else "."),
    )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
    return response


def _button_label(description: str) -> str:
    label = description.strip() or "SSO"
    return label if label.lower().startswith("sign in") else f"Sign in with {label}"


def _sso_buttons(request: HttpRequest, next_url: str) -> list[dict]:
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return [
        {"label": _button_label(config.description), "url": reverse("sso:login", args=[config.key]) + query}
        for config in sso_login_buttons(portal=request.portal)
    ]


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """GET: the SSO buttons and (unless SSO-only) the email form. POST: ask for a code.

    Known and unknown emails get the same redirect to the same page: nothing tells a visitor
    whether an address is a contact here. Rate limits apply to both alike.
    """
    portal = request.portal
    next_url = safe_next_url(request=request, url=request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(redirect_target(request=request, url=next_url))
    form = None
    status = 200
    retry_after = 0
    if request.method == "POST":
        if portal.sso_only:
            return _sso_only_refusal(request)
        form = EmailLoginForm(request.POST)
        if form.is_valid():
            email = normalize_email(form.cleaned_data["email"])
            ip = client_ip(request)
            try:
                wait_ip = rate_limit_hit(limit=CODE_REQUESTS_PER_IP, portal=portal, value=ip)
                wait_email = rate_limit_hit(limit=CODE_REQUESTS_PER_EMAIL, portal=portal, value=email)
                wait_portal = 0
                if not (wait_ip or wait_email):
                    wait_portal = rate_limit_hit(limit=code_mails_per_portal(), portal=portal, value="all")
            except RateLimitUnavailable:
                return _limits_unavailable(request)
            retry_after = max(wait_ip, wait_email, wait_portal)
            if retry_after:
                audit_record(
                    kind=AuditKind.CODE_RATE_LIMITED,
                    portal=portal,
                    email=email,
                    ip=ip,
                    detail={
                        "per_ip": bool(wait_ip),
                        "per_email": bool(wait_email),
                        "per_portal": bool(wait_portal),
                        "retry_after": retry_after,
                    },
                )
                if wait_portal:
                    message = f"{portal.name} is sending a lot of sign-in codes right now."
                else:
                    message = "Too many sign-in codes have been asked for."
                form.add_error(None, f"{message} Please try again {retry_phrase(retry_after)}.")
                status = 429
            elif paused_until := code_signin_paused_until(portal=portal, email=email):
                retry_after = _seconds_until(paused_until)
                form.add_error(None, _paused_message(paused_until))
                status = 429
            else:
                login_code_request(portal=portal, email=email, ip=ip)
                request.session[LOGIN_EMAIL_KEY] = email
                request.session[LOGIN_NEXT_KEY] = next_url
                request.session[LOGIN_FAILURES_KEY] = 0
                return redirect("accounts:login_code")
        else:
            status = 400
    elif not portal.sso_only:
        form = EmailLoginForm(initial={"email": request.session.get(LOGIN_EMAIL_KEY, "")})
    buttons = _sso_buttons(request, next_url)
    response = render(
        request,
        "accounts/login.html",
        {"form": form, "sso_buttons": buttons, "next": next_url, "sso_only": portal.sso_only},
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _code_attempt_wait(request: HttpRequest) -> int:
    """Seconds to wait before another code guess from this network; the cache being down counts
    as a wait (a guessable code must never be tried unlimited)."""
    try:
        return rate_limit_hit(limit=CODE_ATTEMPTS_PER_IP, portal=request.portal, value=client_ip(request))
    except RateLimitUnavailable:
        return UNAVAILABLE_RETRY_SECONDS


@never_cache
@require_http_methods(["GET", "POST"])
def login_code_view(request: HttpRequest) -> HttpResponse:
    """GET: "enter the code" (same words whether or not a code was sent). POST: check it."""
    portal = request.portal
    if portal.sso_only:
        return _sso_only_refusal(request)
    email = request.session.get(LOGIN_EMAIL_KEY)
    if not email:
        messages.info(request, "Enter your email address to get a sign-in code.")
        return redirect("accounts:login")
    failures = request.session.get(LOGIN_FAILURES_KEY, 0)
    locked = failures >= _max_attempts()
    status = 200
    error = ""
    retry_after = 0
    form = LoginCodeForm()
    if request.method == "POST":
        form = LoginCodeForm(request.POST)
        if locked:
            form = LoginCodeForm()
            error, status = TOO_MANY_TRIES, 429
        elif not form.is_valid():
            status = 400
        elif retry_after := _code_attempt_wait(request):
            form = LoginCodeForm()
            error = f"Too many attempts from your network. Please try again {retry_phrase(retry_after)}."
            status = 429
        else:
            result = login_code_check(
                portal=portal, email=email, code=form.cleaned_data["code"], ip=client_ip(request)
            )
            if result.status == "ok":
                next_url = request.session.get(LOGIN_NEXT_KEY, "")
                for key in (LOGIN_EMAIL_KEY, LOGIN_NEXT_KEY, LOGIN_FAILURES_KEY):
                    request.session.pop(key, None)
                login(request, result.user, backend=SESSION_BACKEND)  # rotates the session key
                return redirect(redirect_target(request=request, url=next_url))
            if result.status == "disabled":
                return problem_page(
                    request,
                    status=403,
                    title="Account disabled",
                    message="This account has been disabled. Please contact the portal's support.",
                )
            if result.status == "paused":
                form = LoginCodeForm()
                retry_after = _seconds_until(result.resume_at)
                error, status = _paused_message(result.resume_at), 429
                return _code_page(
                    request,
                    form=form,
                    error=error,
                    email=email,
                    locked=True,
                    status=status,
                    retry_after=retry_after,
                )
            failures = _max_attempts() if result.status == "locked" else failures + 1
            request.session[LOGIN_FAILURES_KEY] = failures
            locked = failures >= _max_attempts()
            form = LoginCodeForm()
            error, status = (TOO_MANY_TRIES, 429) if locked else (WRONG_CODE, 400)
    return _code_page(
        request, form=form, error=error, email=email, locked=locked, status=status, retry_after=retry_after
    )


def _code_page(request, *, form, error: str, email: str, locked: bool, status: int, retry_after: int):
    response = render(
        request,
        "accounts/login_code.html",
        {
            "form": form,
            "error": error,
            "email": email,
            "locked": locked,
            "ttl_minutes": _ttl_minutes(),
            "next": request.session.get(LOGIN_NEXT_KEY, ""),
        },
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _seconds_until(moment) -> int:
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))


def _paused_message(resume_at) -> str:
    """The same words whether or not the email is a contact (unknown emails pause alike)."""
    return (
        "Too many wrong codes have been entered for this email today, so sign-in by code is paused until "
        f"{resume_at:%H:%M} UTC ({retry_phrase(_seconds_until(resume_at))}). If this email belongs to an "
        "account here, we've let its owner know. You can still sign in with HaloPSA."
    )


def _max_attempts() -> int:
    return settings.LOGIN_CODE_MAX_ATTEMPTS


def _ttl_minutes() -> int:
    return settings.LOGIN_CODE_TTL_MINUTES


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """POST ends the session; GET asks first (a link or prefetch must not sign anyone out)."""
    if request.method == "POST":
        # Read where the provider's session ends before ours does: it needs the session's ID token.
        provider_logout = sso_logout_url(request)
        session_logout(request=request)
        if provider_logout:
            return redirect(provider_logout)
        messages.success(request, "You have been signed out.")
        return redirect("accounts:login")
    return render(request, "accounts/logout_confirm.html", {})
