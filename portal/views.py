"""Customer-facing pages. Thin: every read goes through ``portal.selectors``, scoped to the portal."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render


def healthz(request):
    """200 with a small JSON body when the database answers; 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@login_required
def dashboard(request):
    return render(request, "portal/dashboard.html", {})


@login_required
def invoice_list(request):
    return render(request, "portal/invoice_list.html", {})


@login_required
def invoice_detail(request, pk: int):
    return render(request, "portal/invoice_detail.html", {})


@login_required
def profile(request):
    return render(request, "portal/profile.html", {})


def _error(request, status: int, title: str, message: str):
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def bad_request(request, exception=None):
    return _error(
        request, 400, "Bad request", "The request could not be understood. Please go back and try again."
    )


def permission_denied(request, exception=None):
    return _error(request, 403, "Not allowed", "You don't have access to this page.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Page not found", "There is nothing at this address.")


def server_error(request):
    return _error(request, 500, "Something went wrong", "Please try again in a moment.")
