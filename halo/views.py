"""Thin views: HaloPSA's webhook, an invoice's PDF, the "ask for invoice access" page."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.audit import client_ip
from portal.selectors import invoice_for_user

from .pdf import InvoicePDFUnavailable, invoice_pdf_open
from .selectors import halo_connection_by_key
from .webhook import webhook_receive


@csrf_exempt
@require_POST
def webhook(request, key: str) -> HttpResponse:
    """202 with the work queued; 401 for a bad secret; 413 for an oversized body; never a 500."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.HALO_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    body = request.read(settings.HALO_WEBHOOK_MAX_BYTES + 1)
    if len(body) > settings.HALO_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    connection = halo_connection_by_key(key=key)
    if connection is not None and connection.portal_id != getattr(request.portal, "pk", None):
        connection = None  # a key is only valid on its own portal's host
    outcome = webhook_receive(
        connection=connection,
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        body=body,
        ip=client_ip(request),
    )
    response = JsonResponse({"status": outcome.reason}, status=outcome.status)
    if outcome.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="halopsa-webhook"'
    return response


@login_required
def invoice_pdf(request, pk):
    invoice = invoice_for_user(user=request.user, pk=pk, portal=request.portal)  # 404 unless theirs
    try:
        handle = invoice_pdf_open(invoice=invoice)
    except InvoicePDFUnavailable as exc:
        return render(
            request, "error.html", {"title": "PDF not available", "message": exc.message}, status=exc.status
        )
    return FileResponse(
        handle, as_attachment=True, filename=f"{invoice.number}.pdf", content_type="application/pdf"
    )


def no_invoice_access(request):
    return render(request, "halo/no_invoice_access.html", status=403)
