"""Customer-facing pages. Thin: every read goes through ``portal.selectors``, scoped to the portal."""

import sys
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from . import selectors
from .forms import InvoiceFilterForm
from .health import health_report
from .models import Invoice
from .outages import caused_by_an_outage

INVOICES_PER_PAGE = 25


def healthz(request):
    """200 while the database answers (``degraded`` naming a failing cache or broker); 503 when it
    does not. ``?strict=1``: 503 as soon as any part fails. See ``portal.health``."""
    report, essential_ok = health_report()
    strict = request.GET.get("strict") in ("1", "true", "yes")
    healthy = essential_ok and not (strict and report["failing"])
    return JsonResponse(report, status=200 if healthy else 503)


@login_required
def dashboard(request):
    summary = selectors.dashboard_summary(user=request.user, portal=request.portal)
    return render(request, "portal/dashboard.html", {"summary": summary})


@login_required
def invoice_list(request):
    filter_form = InvoiceFilterForm(request.GET)
    filters = filter_form.filters()
    customer_ids = selectors.customer_ids_for_user(user=request.user, portal=request.portal)
    invoices = selectors.invoices_for_user(
        user=request.user,
        portal=request.portal,
        status=filters["status"] or None,
        order=filters["sort"],
        customer_ids=customer_ids,
    )
    count = selectors.invoice_count(
        user=request.user, customer_ids=customer_ids, status=filters["status"] or None, invoices=invoices
    )
    page = selectors.invoice_page(
        invoices=invoices, number=request.GET.get("page"), per_page=INVOICES_PER_PAGE, count=count
    )
    params = filter_form.query_params()
    context = {
        "page": page,
        "invoices": page.object_list,
        "filter_form": filter_form.normalised(),
        "filters": filters,
        "status_label": Invoice.Status(filters["status"]).label if filters["status"] else "",
        "filter_query": urlencode(params),
        "has_access": bool(customer_ids),
        "sort_links": _sort_links(params, filters["sort"]),
    }
    return render(request, "portal/invoice_list.html", context)


def _sort_links(params: dict[str, str], current: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the link that sorts by it (flipping direction) and its ``aria-sort``."""
    links = {}
    for column in ("number", "issued", "due", "total", "balance"):
        if current == column:
            target, aria = f"-{column}", "ascending"
        elif current == f"-{column}":
            target, aria = column, "descending"
        else:
            # Dates and amounts are most useful biggest/latest first; numbers read A to Z.
            target, aria = (column if column == "number" else f"-{column}"), "none"
        query = {k: v for k, v in params.items() if k != "sort"}
        if target != selectors.DEFAULT_INVOICE_ORDER:
            query["sort"] = target
        links[column] = {"url": "?" + urlencode(query) if query else "?", "aria_sort": aria}
    return links


@login_required
def invoice_detail(request, pk):
    invoice = selectors.invoice_for_user(user=request.user, pk=pk, portal=request.portal)
    return render(request, "portal/invoice_detail.html", {"invoice": invoice})


@login_required
def profile(request):
    context = {
        "contacts": list(selectors.contacts_for_user(user=request.user, portal=request.portal)),
        "identities": selectors.identities_for_user(user=request.user, portal=request.portal),
    }
    return render(request, "portal/profile.html", context)


def _error(request, status: int, title: str, message: str, **extra):
    return render(request, "error.html", {"title": title, "message": message, **extra}, status=status)


def _same_site_path(request) -> str:
    """The request's own path, safe as a link target (never ``//host`` or ``/\\host``)."""
    path = request.get_full_path()
    if not path.startswith("/") or path[1:2] in ("/", "\\"):
        return "/"
    return path


def csrf_failure(request, reason=""):
    """A stale tab or blocked cookies: say so and offer the page again, in every mode.

    Django's own CSRF page is a developer page (with DEBUG on it explains settings); the person
    only needs to reload the form, which gets a fresh token.
    """
    message = (
        "This page was open for a long time, or your browser blocked cookies, so we could not accept "
        "the form. Reload the page and try again."
    )
    if settings.DEBUG and settings.DEBUG_TECHNICAL_PAGES:
        message += f" (CSRF: {reason})"
    return _error(
        request,
        403,
        "Please reload the page",
        message,
        action_url=_same_site_path(request),
        action_label="Reload and try again",
    )


def bad_request(request, exception=None):
    return _error(
        request, 400, "Bad request", "The request could not be understood. Please go back and try again."
    )


def permission_denied(request, exception=None):
    return _error(request, 403, "Not allowed", "You don't have access to this page.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Page not found", "There is nothing at this address.")


def server_error(request):
    """500 page; when the error is a dependency that is down (PostgreSQL, Redis), a 503 saying so.

    Rendered without the request's context processors: ``user`` would read the session, which
    needs the very database or cache that just failed.
    """
    if caused_by_an_outage(sys.exc_info()[1]):
        status, title = 503, "Temporarily unavailable"
        message = "The portal cannot reach one of its services right now. Please try again in a minute."
    else:
        status, title, message = 500, "Something went wrong", "Please try again in a moment."
    context = {"title": title, "message": message, "portal": getattr(request, "portal", None), "user": None}
    return HttpResponse(render_to_string("error.html", context), status=status)
