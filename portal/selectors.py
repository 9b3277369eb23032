"""Reads of customer data. Everything a signed-in person may see is computed here.

The rule, in one place: a person sees the customers of *their own portal* that have a contact
whose email equals the email that person has proven they own (``User.email``; a user is an email
proven on one portal). Every other read (invoices, payments, the dashboard) is derived from
``customers_for_user`` so that no page can forget the rule. Unknown or foreign ids are a 404, never
a 403, so nobody learns that another tenant's invoice exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Sum
from django.db.models.functions import Lower
from django.http import Http404

from .emails import normalize_email
from .invoice_figures import cached_figures
from .models import Contact, Customer, Invoice, Payment, Portal
from .pagination import NearestEndPaginator
from .prepared import PreparedLookup

#: The ``?sort=`` values the invoice list accepts, and the ordering each one means.
#: A whitelist: user input never reaches ``order_by`` directly.
INVOICE_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-issued": ("-issued_on", "-id"),
    "issued": ("issued_on", "id"),
    "-due": ("-due_on", "-id"),
    "due": ("due_on", "id"),
    "-total": ("-total", "-id"),
    "total": ("total", "id"),
    "-balance": ("-balance", "-id"),
    "balance": ("balance", "id"),
    "number": ("number", "id"),
    "-number": ("-number", "-id"),
}
DEFAULT_INVOICE_ORDER = "-issued"

#: Statuses that still ask the customer for money.
UNPAID_STATUSES = (Invoice.Status.OPEN, Invoice.Status.OVERDUE)

RECENT_INVOICES = 5

# The largest primary key the database can hold (BigAutoField). Larger ids cannot exist; checking
# here keeps a hand-typed huge number from overflowing the database driver (a 500 on SQLite).
MAX_ID = 2**63 - 1

# Every request looks its portal up by host name: SQL compiled once per process (portal/prepared.py).
_PORTAL_BY_HOST = PreparedLookup(
    Portal, lambda host: Portal.objects.filter(host=host).order_by()[:1], strings=("host",)
)


def portal_for_host_name(*, host: str) -> Portal | None:
    """The portal whose host name is ``host`` (already lower-cased, no port), or None."""
    return _PORTAL_BY_HOST.first(host=host) if host else None


def _in_scope(*, user, portal: Portal | None) -> bool:
    """Whether ``user`` may see customer data at all (on ``portal``, when the caller names one).

    Superusers have no portal and so no customer data: the admin is their tool. A session of
    portal A presented to portal B is refused here too (defence in depth behind the middleware).
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.portal_id is None or not user.email:
        return False
    return portal is None or portal.pk == user.portal_id


def customers_for_email(*, portal: Portal, email: str) -> QuerySet[Customer]:
    """The customers of ``portal`` that list ``email`` as a contact (case-insensitive).

    For callers that hold an email rather than a signed-in user: the email-code login (send a
    code only to contacts) and the SSO dry run ("does a contact match this email here?"). It
    grants nothing by itself; what a person sees is decided by ``customers_for_user``.
    The match uses ``Lower(email)`` (indexed) rather than trusting that every row was saved
    lower-case, because rows written by bulk updates bypass ``Contact.save``.
    """
    address = normalize_email(email)
    if portal is None or not address:
        return Customer.objects.none()
    matching_contact = Contact.objects.annotate(email_lower=Lower("email")).filter(
        customer=OuterRef("pk"), email_lower=address
    )
    return Customer.objects.filter(Exists(matching_contact), portal_id=portal.pk)


def customers_for_user(*, user, portal: Portal | None = None) -> QuerySet[Customer]:
    """The customers of ``user.portal`` that have a contact with ``user.email`` (case-insensitive).

    ``portal`` is the request's portal; when given it must be the user's own, else nothing.
    ``user.email`` is the email the person proved they own (a code or a verification link), which
    is why it, and never an unverified claim from a provider, decides what they see.
    """
    if not _in_scope(user=user, portal=portal):
        return Customer.objects.none()
    own = portal if portal is not None else Portal.objects.only("invoice_access").get(pk=user.portal_id)
    if own.invoice_access == Portal.InvoiceAccess.HALO:
        # HaloPSA's "Can view their invoices" decides: only allowed, active synced contacts count.
        allowed = Contact.objects.annotate(email_lower=Lower("email")).filter(
            customer=OuterRef("pk"),
            email_lower=user.email.strip().lower(),
            halo_id__isnull=False,
            can_view_invoices=True,
            inactive=False,
        )
        return Customer.objects.filter(Exists(allowed), portal_id=user.portal_id, inactive=False)
    return customers_for_email(portal=Portal(pk=user.portal_id), email=user.email)


def contacts_for_user(*, user, portal: Portal | None = None) -> QuerySet[Contact]:
    """The contact rows that link ``user`` to customers (for the profile page)."""
    if not _in_scope(user=user, portal=portal):
        return Contact.objects.none()
    return (
        Contact.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower=user.email.strip().lower(), customer__portal_id=user.portal_id)
        .select_related("customer")
        .order_by("customer__name", "email")
    )


def customer_ids_for_user(*, user, portal: Portal | None = None) -> list[int]:
    """The ids of ``customers_for_user``, read once.

    Invoice reads filter on these ids rather than on a subquery: with the customer fixed, the
    (customer, date, id) indexes give the list's order and its first rows directly, instead of the
    planner joining and sorting every invoice of the customer on each page.
    """
    return list(customers_for_user(user=user, portal=portal).order_by("pk").values_list("pk", flat=True))


def invoices_for_user(
    *,
    user,
    portal: Portal | None = None,
    status: str | None = None,
    order: str = DEFAULT_INVOICE_ORDER,
    customer_ids: list[int] | None = None,
) -> QuerySet[Invoice]:
    """The invoices of the customers ``user`` may see, optionally of one status, in a whitelisted order.

    ``status`` and ``order`` are expected to be validated already (see ``portal.forms``); an
    unknown value is a programming error and raises ``ValueError`` rather than silently widening
    or changing the result. Lists pass ``customer_ids`` (``customer_ids_for_user``'s answer) so the
    order comes off the index; without it the customers are a subquery (fine for one invoice by id).
    """
    if status and status not in Invoice.Status.values:
        raise ValueError(f"Unknown invoice status {status!r}.")
    if order not in INVOICE_ORDERINGS:
        raise ValueError(f"Unknown invoice order {order!r}.")
    if customer_ids is None:
        invoices = Invoice.objects.filter(customer__in=customers_for_user(user=user, portal=portal))
    elif not customer_ids:
        return Invoice.objects.none()
    else:
        invoices = Invoice.objects.filter(customer_id__in=customer_ids)
    if status:
        invoices = invoices.filter(status=status)
    return invoices.select_related("customer").order_by(*INVOICE_ORDERINGS[order])


def invoice_count(*, user, customer_ids: list[int], status: str | None, invoices: QuerySet[Invoice]) -> int:
    """How many ``invoices`` there are (the list's pager), from the shared cache while none changed.

    ``invoices`` must be ``invoices_for_user(customer_ids=customer_ids, status=status)``: the count
    is cached under those customers' tokens (``portal.invoice_figures``), per status filter.
    """
    if not customer_ids:
        return 0
    return cached_figures(
        portal_id=user.portal_id,
        customer_ids=customer_ids,
        compute=invoices.count,
        what=f"invoice-count:{status or 'all'}",
    )


def invoice_page(*, invoices: QuerySet[Invoice], number, per_page: int, count: int | None = None):
    """One page of ``invoices`` (a ``Page``; a missing, malformed or out-of-range number gives the
    first or last page).

    The page's ids are read first (from the index alone) and only its rows are then fetched, and a
    page nearer the end is read from the end (``NearestEndPaginator``), so the last of 400 pages
    costs what the first does: an OFFSET over full rows would read every skipped invoice, and one
    over the index every skipped entry. ``count``: the number of ``invoices`` when known already
    (``invoice_count``); otherwise the pager counts them.
    """
    page = NearestEndPaginator(invoices.values_list("pk", flat=True), per_page, count=count).get_page(number)
    ids = list(page.object_list)
    by_id = {invoice.pk: invoice for invoice in invoices.filter(pk__in=ids)} if ids else {}
    page.object_list = [by_id[pk] for pk in ids if pk in by_id]
    return page


def _parse_id(pk) -> int | None:
    try:
        value = int(str(pk).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


def invoice_for_user(*, user, pk, portal: Portal | None = None) -> Invoice:
    """One invoice ``user`` may see, with its customer and payments; ``Http404`` otherwise.

    Malformed, out-of-range, unknown and other people's ids all give the same 404.
    """
    invoice_id = _parse_id(pk)
    if invoice_id is None:
        raise Http404("No such invoice.")
    invoice = (
        invoices_for_user(user=user, portal=portal)
        .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("-paid_on", "-id")))
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


@dataclass(frozen=True)
class DashboardSummary:
    customers: list[Customer]
    #: Sum of balances still owed, per currency code (sorted by code). Decimal, never float.
    balance_due: dict[str, Decimal]
    #: Invoices still asking for money (open or overdue, balance above zero).
    unpaid_count: int
    overdue_count: int
    overdue_balance: dict[str, Decimal]
    recent_invoices: list[Invoice] = field(default_factory=list)

    @property
    def has_access(self) -> bool:
        """False for a person whose email is no contact here: the page says so, kindly."""
        return bool(self.customers)


def _quantized(amount) -> Decimal:
    return Decimal(amount or 0).quantize(Decimal("0.01"))


def _unpaid_figures(customer_ids: list[int]) -> dict:
    """Balances due and overdue per currency and the counts, from one grouped read of the unpaid."""
    rows = (
        Invoice.objects.filter(customer_id__in=customer_ids, status__in=UNPAID_STATUSES, balance__gt=0)
        .order_by()
        .values("status", "currency")
        .annotate(amount=Sum("balance"), count=Count("pk"))
    )
    balance_due: dict[str, Decimal] = {}
    overdue_balance: dict[str, Decimal] = {}
    unpaid_count = overdue_count = 0
    for row in rows:
        balance_due[row["currency"]] = balance_due.get(row["currency"], Decimal(0)) + row["amount"]
        unpaid_count += row["count"]
        if row["status"] == Invoice.Status.OVERDUE:
            overdue_balance[row["currency"]] = (
                overdue_balance.get(row["currency"], Decimal(0)) + row["amount"]
            )
            overdue_count += row["count"]
    return {
        "balance_due": {
            code: _quantized(balance_due[code]) for code in sorted(balance_due) if balance_due[code]
        },
        "unpaid_count": unpaid_count,
        "overdue_count": overdue_count,
        "overdue_balance": {
            code: _quantized(overdue_balance[code])
            for code in sorted(overdue_balance)
            if overdue_balance[code]
        },
    }


def dashboard_summary(*, user, portal: Portal | None = None) -> DashboardSummary:
    """What the dashboard shows: balances due per currency, counts and the latest invoices.

    Balances are summed per currency and never across currencies: adding dollars to euros
    would show a number that is nobody's bill. All the figures come from one grouped read of the
    unpaid invoices only, served by a partial index that holds exactly those rows (so paid history,
    however long, is never scanned), kept in the shared cache until one of the customers' invoices
    changes (``portal.invoice_figures``: thousands of unpaid invoices are still thousands of rows
    to sum), and the latest invoices from the (customer, date) index.
    """
    customers = list(customers_for_user(user=user, portal=portal).order_by("name"))
    if not customers:
        return DashboardSummary(
            customers=[], balance_due={}, unpaid_count=0, overdue_count=0, overdue_balance={}
        )
    customer_ids = sorted(customer.pk for customer in customers)
    figures = cached_figures(
        portal_id=user.portal_id, customer_ids=customer_ids, compute=lambda: _unpaid_figures(customer_ids)
    )
    return DashboardSummary(
        customers=customers,
        **figures,
        recent_invoices=list(
            invoices_for_user(user=user, portal=portal, customer_ids=customer_ids)[:RECENT_INVOICES]
        ),
    )


def identities_for_user(*, user, portal: Portal | None = None) -> list:
    """The verified, unrevoked SSO identities linked to ``user`` (the profile's "sign-in methods")."""
    if not _in_scope(user=user, portal=portal):
        return []
    from accounts.models import Identity

    return list(
        Identity.objects.filter(
            user=user, portal_id=user.portal_id, verified_at__isnull=False, revoked_at__isnull=True
        )
        .select_related("sso_config")
        .order_by("issuer", "sub")
    )
