"""Tenancy: every request is bound to the portal whose host name it was sent to."""

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest
from django.http.request import split_domain_port
from django.shortcuts import render

from .selectors import portal_for_host_name

# Paths that answer on any host (load balancers probe by IP; static files carry no tenant data;
# Stripe's webhook names its portal by the unguessable key in its path and is signed per portal).
HOST_AGNOSTIC_PREFIXES = ("/static/", "/payments/webhook/")


class HealthCheckMiddleware:
    """Answers ``/healthz`` before anything reads the Host header.

    Load balancers and container health checks probe by IP (``http://10.0.0.5:8000/healthz``),
    which is not a portal host and need not be in ALLOWED_HOSTS. The answer carries no tenant
    data, so it is served here, first in the chain, on any host.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path == "/healthz":
            from .views import healthz

            return healthz(request)
        return self.get_response(request)


class RejectNulBytesMiddleware:
    """A NUL byte in the path or query string is a 400 page, before any view sees it.

    PostgreSQL text cannot hold NUL, so such a value reaching a query (an admin filter, a lookup by
    key) would be a 500. No legitimate URL carries one; refusing them here is the one place that
    covers every view, ours and Django's.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            response = render(
                request,
                "error.html",
                {"title": "Bad request", "message": "The address contains characters that are not allowed."},
                status=400,
            )
            response["Referrer-Policy"] = "no-referrer"
            return response
        return self.get_response(request)


class PortalMiddleware:
    """Sets ``request.portal`` from the Host header (port ignored); an unknown host gets a 404 page.

    ``request.get_host()`` has already been checked against ALLOWED_HOSTS by Django, so a forged
    host outside that list is a 400 before we get here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        domain, _port = split_domain_port(request.get_host())
        request.portal = portal_for_host_name(host=domain.lower())
        if request.portal is None and not request.path.startswith(HOST_AGNOSTIC_PREFIXES):
            return render(request, "portal/unknown_host.html", status=404)
        return self.get_response(request)


class PortalUserMiddleware:
    """A session may only act on the portal that created it: a user of portal A is anonymous on B.

    Sessions are per host cookie already; this is the defence in depth for shared parent domains
    and for a cookie copied to another portal's host. Such a cookie is *ignored* here: the request
    gets an empty session of its own and is anonymous. It must not be flushed (``logout``): that
    would delete the session on its own portal and sign the person out there too. The cookie is
    also hidden from the session middleware, so the answer does not delete it either (with a
    shared parent-domain cookie that would sign the person out of their own portal in the browser).
    Superusers (no portal) are allowed everywhere, for the admin.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        portal = getattr(request, "portal", None)
        if (
            user is not None
            and user.is_authenticated
            and portal is not None
            and user.portal_id is not None
            and user.portal_id != portal.id
        ):
            request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)
            request.session = import_module(settings.SESSION_ENGINE).SessionStore()
            request.user = AnonymousUser()
        return self.get_response(request)


class ErrorPagesMiddleware:
    """The portal's own 404, 400 and 500 pages with ``DEBUG`` on too, unless a developer asks otherwise.

    With ``DEBUG`` on, Django answers these with technical pages listing every URL pattern, the
    settings or a traceback; the demo runs with ``DEBUG`` on and customers use it. Set
    ``DEBUG_TECHNICAL_PAGES=true`` to get Django's pages back while developing. With ``DEBUG`` off
    Django already uses ``handler404``/``handler400``/``handler500``; 403s always use ``handler403``.
    It must be the innermost middleware: only then is a 404 without a resolved view the URL
    resolver's own (``request.resolver_match`` is set as soon as a URL matches).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _active() -> bool:
        return settings.DEBUG and not settings.DEBUG_TECHNICAL_PAGES

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if self._active() and response.status_code == 404 and request.resolver_match is None:
            from .views import page_not_found

            return page_not_found(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not self._active():
            return None
        from . import views

        if isinstance(exception, Http404):
            return views.page_not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # handler403 in every mode
        if isinstance(exception, (SuspiciousOperation, BadRequest)):
            security = logging.getLogger(f"django.security.{exception.__class__.__name__}")
            security.error(str(exception), exc_info=exception, extra={"status_code": 400, "request": request})
            return views.bad_request(request, exception)
        logging.getLogger("django.request").error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        return views.server_error(request)
