"""HaloPSA's resource server as a billing portal uses it, under ``/api`` (development and tests only).

Field names, list keys and paging parameters are those of HaloPSA's published OpenAPI document
(see the portal's notes): ``pageinate=true&page_size&page_no``, ``record_count``, plural row keys.
Requests need a bearer token from the client-credentials grant at ``/auth/token``; the token's scope
must be ``all`` or the narrower scope of the endpoint, else 403, as on HaloPSA.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core

from . import knobs
from .models import ApiClient, ApiInvoice, ApiPayment, ApiUser, ApiWebhook
from .pdf import invoice_pdf

MAX_PAGE_SIZE = 1000


def _json(data, status: int = 200, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(data, status=status, headers=headers, safe=False, json_dumps_params={"default": str})


def _num(value: Decimal) -> float:
    return float(value)


def api_view(scope: str, methods: tuple[str, ...] = ("GET",)):
    """Bearer token check, the fault knobs and the method check around one API view."""

    def wrap(view):
        @csrf_exempt
        def inner(request, *args, **kwargs):
            fault = knobs.fault_for(request)
            if fault is not None:
                status, headers = fault
                return _json({"error": "fault injected"}, status=status, headers=headers)
            if request.method not in methods:
                return _json({"error": "method not allowed"}, status=405)
            valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
            if not valid:
                return _json({"error": "unauthorized"}, status=401)
            granted = set(oauth_request.access_token.scope.split())
            if "all" not in granted and scope not in granted:
                return _json({"error": "forbidden", "message": f"needs scope {scope}"}, status=403)
            request.halo_scopes = granted
            return view(request, *args, **kwargs)

        return inner

    return wrap


def _flag(request, name: str) -> bool:
    return request.GET.get(name, "").lower() in {"1", "true", "yes"}


def _page(request, queryset, key: str, serialize) -> JsonResponse:
    """HaloPSA's list shape: all rows, or one page when ``pageinate=true``; ``record_count`` always."""
    record_count = queryset.count()
    body = {"record_count": record_count}
    if _flag(request, "pageinate"):
        try:
            size = max(1, min(int(request.GET.get("page_size", 50)), MAX_PAGE_SIZE))
            number = max(1, int(request.GET.get("page_no", 1)))
        except ValueError:
            return _json({"error": "bad paging"}, status=400)
        rows = queryset[(number - 1) * size : number * size]
        body.update(page_no=number, page_size=size)
    else:
        rows = queryset
    body[key] = [serialize(row) for row in rows]
    return _json(body)


def _since(request, queryset, field: str):
    value = request.GET.get("lastupdatefromdate")
    if value:
        when = parse_datetime(value)
        if when is None:
            return None
        if timezone.is_naive(when):
            when = timezone.make_aware(when, UTC)
        queryset = queryset.filter(**{f"{field}__gte": when})
    return queryset


def _order(request, queryset, allowed: set[str]):
    order = request.GET.get("order")
    if order in allowed:
        prefix = "-" if _flag(request, "orderdesc") else ""
        return queryset.order_by(f"{prefix}{order}", f"{prefix}id")
    return queryset.order_by("id")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@api_view("read:customers")
def auth_info(request):
    base = request.build_absolute_uri("/").rstrip("/")
    return _json(
        {"auth_url": f"{base}/auth", "tenant_id": settings.HALOSTUB_TENANT, "api_url": f"{base}/api"}
    )


def client_json(row: ApiClient) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "inactive": row.inactive,
        "toplevel_id": row.toplevel_id,
        "last_update": _stamp(row.last_update),
    }


@api_view("read:customers")
def clients(request):
    queryset = ApiClient.objects.all()
    if not _flag(request, "includeinactive"):
        queryset = queryset.filter(inactive=False)
    queryset = _since(request, queryset, "last_update")
    if queryset is None:
        return _json({"error": "bad lastupdatefromdate"}, status=400)
    return _page(request, _order(request, queryset, {"id", "name"}), "clients", client_json)


@api_view("read:customers")
def client_detail(request, pk: int):
    row = ApiClient.objects.filter(pk=pk).first()
    return _json(client_json(row)) if row else _json({"error": "not found"}, status=404)


@api_view("read:customers")
def user_detail(request, pk: int):
    row = ApiUser.objects.filter(pk=pk).first()
    return (
        _json(user_json(row, _client_names([row.client_id])))
        if row
        else _json({"error": "not found"}, status=404)
    )


def _client_names(client_ids) -> dict[int, str]:
    return dict(ApiClient.objects.filter(id__in=set(client_ids)).values_list("id", "name"))


def user_json(row: ApiUser, names: dict[int, str] | None = None) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "emailaddress": row.emailaddress,
        "client_id": row.client_id,
        "client_name": (names or {}).get(row.client_id, ""),
        "site_id": row.site_id,
        "inactive": row.inactive,
        "canaccessinvoices": row.canaccessinvoices,
        "last_update": _stamp(row.last_update),
    }


@api_view("read:customers")
def users(request):
    queryset = ApiUser.objects.all()
    if not _flag(request, "includeinactive"):
        queryset = queryset.filter(inactive=False)
    if request.GET.get("client_id", "").isdigit():
        queryset = queryset.filter(client_id=int(request.GET["client_id"]))
    if request.GET.get("search"):
        term = request.GET["search"]
        queryset = queryset.filter(Q(emailaddress__icontains=term) | Q(name__icontains=term))
    queryset = _since(request, queryset, "last_update")
    if queryset is None:
        return _json({"error": "bad lastupdatefromdate"}, status=400)
    names = dict(ApiClient.objects.values_list("id", "name"))
    return _page(request, _order(request, queryset, {"id", "name"}), "users", lambda r: user_json(r, names))


def invoice_json(row: ApiInvoice, names: dict[int, str], *, lines: bool) -> dict:
    data = {
        "id": row.id,
        "invoicenumber": row.invoicenumber,
        "client_id": row.client_id,
        "client_name": names.get(row.client_id, ""),
        "site_id": row.site_id,
        "invoice_date": f"{row.invoice_date.isoformat()}T00:00:00",
        "duedate": f"{row.duedate.isoformat()}T00:00:00",
        "total": _num(row.total),
        "tax_total": _num(row.tax_total),
        "amountpaid": _num(row.amountpaid),
        "amountdue": _num(row.total - row.amountpaid),
        "paymentstatus": row.paymentstatus,
        "currency_code": row.currency_code,
        "posted": row.posted,
        "last_modified": _stamp(row.last_modified),
    }
    if lines:
        data["lines"] = row.lines
    return data


@api_view("read:invoices")
def invoices(request):
    queryset = ApiInvoice.objects.all()
    if request.GET.get("client_id", "").isdigit():
        queryset = queryset.filter(client_id=int(request.GET["client_id"]))
    if _flag(request, "postedonly"):
        queryset = queryset.filter(posted=True)
    queryset = _order(request, queryset, {"id", "last_modified", "invoice_date"})
    with_lines = _flag(request, "includelines")
    names = dict(ApiClient.objects.values_list("id", "name"))
    return _page(request, queryset, "invoices", lambda r: invoice_json(r, names, lines=with_lines))


@api_view("read:invoices")
def invoice_detail(request, pk: int):
    row = ApiInvoice.objects.filter(pk=pk).first()
    if row is None:
        return _json({"error": "not found"}, status=404)
    return _json(invoice_json(row, _client_names([row.client_id]), lines=True))


@api_view("read:invoices", methods=("POST",))
def invoice_pdf_view(request, pk: int):
    row = ApiInvoice.objects.filter(pk=pk).first()
    if row is None:
        return _json({"error": "not found"}, status=404)
    return HttpResponse(invoice_pdf(row), content_type="application/pdf")


def payment_json(row: ApiPayment) -> dict:
    return {
        "id": row.id,
        "invoice_id": row.invoice_id,
        "client_id": row.client_id,
        "date": _stamp(row.date),
        "amount": _num(row.amount),
        "method": row.method,
        "status": row.status,
        "intent_id": row.intent_id,
        "thirdpartyid": row.thirdpartyid,
    }


@api_view("read:invoices", methods=("GET", "POST"))
def invoice_payments(request):
    if request.method == "POST":
        if not request.halo_scopes & {"all", "edit:invoices"}:
            return _json({"error": "forbidden", "message": "needs scope edit:invoices"}, status=403)
        return _payments_post(request)
    queryset = ApiPayment.objects.all()
    for name in ("invoice_id", "client_id"):
        if request.GET.get(name, "").isdigit():
            queryset = queryset.filter(**{name: int(request.GET[name])})
    return _page(request, queryset.order_by("id"), "payments", payment_json)


def _payments_post(request):
    """HaloPSA takes an array of payments; each is recorded as given and applied to its invoice."""
    try:
        items = json.loads(request.body, parse_float=Decimal)
    except ValueError:
        return _json({"error": "not JSON"}, status=400)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return _json({"error": "the body must be a JSON array of objects"}, status=400)
    created = []
    for item in items:
        try:
            invoice = ApiInvoice.objects.get(pk=int(item.get("invoice_id")))
            amount = Decimal(str(item.get("amount")))
        except (ApiInvoice.DoesNotExist, TypeError, ValueError, ArithmeticError):
            return _json({"error": "unknown invoice_id or bad amount"}, status=400)
        when = parse_datetime(str(item.get("date") or "")) or timezone.now()
        if timezone.is_naive(when):
            when = timezone.make_aware(when, UTC)
        payment = ApiPayment.objects.create(
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            date=when,
            amount=amount,
            method=str(item.get("method") or "")[:50],
            status=str(item.get("status") or "")[:30],
            intent_id=str(item.get("intent_id") or "")[:200],
            thirdpartyid=str(item.get("thirdpartyid") or "")[:200],
            posted_body=json.loads(json.dumps(item, default=str)),
        )
        invoice.amountpaid += amount
        invoice.paymentstatus = 2 if invoice.amountpaid >= invoice.total else 1
        invoice.last_modified = timezone.now()
        invoice.save(update_fields=["amountpaid", "paymentstatus", "last_modified"])
        created.append(payment_json(payment))
    return _json(created, status=201)


def webhook_json(row: ApiWebhook) -> dict:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "active": row.active,
        "authentication_type": row.authentication_type,
        "basic_username": row.basic_username,
    }


@api_view("admin:webhooks", methods=("GET", "POST"))
def webhooks(request):
    """GET lists; POST takes an array of webhooks (create, or update when ``id`` is given)."""
    if request.method == "GET":
        return _json([webhook_json(w) for w in ApiWebhook.objects.all()])
    try:
        items = json.loads(request.body)
    except ValueError:
        return _json({"error": "not JSON"}, status=400)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("url") for i in items):
        return _json({"error": "each webhook needs a url"}, status=400)
    saved = []
    for item in items:
        hook = ApiWebhook.objects.filter(pk=item.get("id")).first() if item.get("id") else None
        hook = hook or ApiWebhook()
        hook.url = str(item["url"])[:500]
        hook.events = [str(e) for e in item.get("events") or []]
        hook.active = bool(item.get("active", True))
        hook.authentication_type = "basic" if item.get("authentication_type") == "basic" else "header"
        hook.basic_username = str(item.get("basic_username") or "")
        hook.basic_password = str(item.get("basic_password") or "")
        hook.authentication_header = str(item.get("authentication_header") or "")
        hook.save()
        saved.append(webhook_json(hook))
    return _json(saved, status=201)
