"""Invoice PDFs: rendered by HaloPSA (``POST /api/Invoice/PDF/{id}``) on first view, kept in Django's
storage (local files by default, S3-compatible storage by setting ``STORAGES``), fetched again when the
invoice's ``last_modified`` moves on. If HaloPSA cannot render it now, the last stored copy is served.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from portal.models import Invoice

from .client import HaloAPIError, HaloClient
from .selectors import halo_connection_for_portal


class InvoicePDFUnavailable(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _fresh(invoice: Invoice) -> bool:
    return bool(invoice.pdf) and invoice.pdf_last_modified == invoice.halo_last_modified


def invoice_pdf_open(*, invoice: Invoice):
    """A readable file of the invoice's PDF; the caller has already checked the person may see it."""
    if invoice.halo_id is None:
        raise InvoicePDFUnavailable(404, "This invoice has no PDF.")
    if not _fresh(invoice):
        try:
            invoice_pdf_fetch(invoice=invoice)
        except InvoicePDFUnavailable:
            if not invoice.pdf:
                raise
    return invoice.pdf.open("rb")


def invoice_pdf_fetch(*, invoice: Invoice) -> None:
    connection = halo_connection_for_portal(portal=invoice.customer.portal)
    if connection is None:
        raise InvoicePDFUnavailable(404, "This invoice has no PDF.")
    try:
        response = HaloClient(connection, interactive=True).post(
            f"Invoice/PDF/{invoice.halo_id}", {}, raw=True, max_bytes=settings.HALO_PDF_MAX_BYTES
        )
    except HaloAPIError as exc:
        raise InvoicePDFUnavailable(
            503, "HaloPSA could not provide the PDF just now. Please try again later."
        ) from exc
    content = response.content
    if not content.startswith(b"%PDF-"):
        raise InvoicePDFUnavailable(502, "HaloPSA did not answer with a PDF. Please try again later.")
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        old_name = locked.pdf.name
        invoice.pdf.save(
            f"p{locked.customer.portal_id}/inv-{locked.halo_id}.pdf", ContentFile(content), save=False
        )
        invoice.pdf_last_modified = locked.halo_last_modified
        invoice.save(update_fields=["pdf", "pdf_last_modified"])
        if old_name and old_name != invoice.pdf.name:
            name = old_name
            transaction.on_commit(lambda: invoice.pdf.storage.delete(name))
