"""The dashboard's money figures and the invoice list's counts, kept in the shared cache per set of
customers until an invoice changes.

The figures (balance due and overdue per currency, counts) sum every unpaid invoice of a person's
customers, and the list's pager counts all of them; with thousands of invoices those reads are the
part of the page that grows with them. So the answers are cached, under a key made of version
tokens: one per customer and one per portal. Every write path that changes an invoice replaces a
token once its transaction commits, so the next dashboard computes afresh and nobody is shown a
balance from before their payment:

- ``Invoice`` saves and deletes (services, payments, the admin, cascades) replace their customer's
  token, by the signal receivers below;
- bulk writes that bypass those signals (the HaloPSA sync's ``bulk_create``/``bulk_update``/``update``)
  call ``invoice_figures_changed(portal_id=...)``, which replaces the portal's token.

A token that is missing (never set, evicted) is created anew, never assumed, so an eviction
cannot bring back figures stored under an older token. ``DASHBOARD_FIGURES_CACHE_SECONDS`` bounds
how long an entry lives anyway (a write path that forgot to call this, a token replaced while the
cache was down); it is ``0`` (off) unless the cache is Redis: a per-process local-memory cache
would keep one worker's figures after another worker's change. The cache is only a copy: when it
is down, the figures are computed as if it were off.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import safe_cache

T = TypeVar("T")

#: Version tokens outlive every figures entry by far; a token that is missing is made anew anyway.
TOKEN_SECONDS = 7 * 24 * 3600


def _portal_key(portal_id: int) -> str:
    return f"invoice-figures:v:portal:{portal_id}"


def _customer_key(customer_id: int) -> str:
    return f"invoice-figures:v:customer:{customer_id}"


def enabled() -> bool:
    return settings.DASHBOARD_FIGURES_CACHE_SECONDS > 0


def invoice_figures_changed(*, portal_id: int | None = None, customer_ids: Iterable[int] = ()) -> None:
    """Drop the cached figures of a portal or of some customers once the current transaction commits.

    Call it in the transaction that wrote the invoices: on commit (at once outside a transaction),
    so a dashboard computed meanwhile from the old rows is stored under the token being replaced.
    """
    if not enabled():
        return
    keys = [_customer_key(pk) for pk in sorted(set(customer_ids))]
    if portal_id is not None:
        keys.append(_portal_key(portal_id))
    if keys:
        transaction.on_commit(lambda: _replace_tokens(keys))


def _replace_tokens(keys: list[str]) -> None:
    safe_cache.set_many({key: secrets.token_hex(8) for key in keys}, TOKEN_SECONDS)


def _tokens(keys: list[str]) -> list[str] | None:
    """The current token of each key (making missing ones), or None when the cache cannot say."""
    found = safe_cache.get_many(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        for key in missing:
            safe_cache.add(key, secrets.token_hex(8), TOKEN_SECONDS)  # another process may win: fine
        found = {**found, **safe_cache.get_many(missing)}
        if any(key not in found for key in missing):
            return None  # the cache is down or refused: compute, do not cache
    return [found[key] for key in keys]


def cached_figures(
    *, portal_id: int, customer_ids: list[int], compute: Callable[[], T], what: str = "dashboard"
) -> T:
    """``compute()``'s answer for these customers, from the cache while no invoice of theirs changed.

    ``what`` names the figure (the dashboard's, an invoice count per status filter): each is an
    entry of its own under the same tokens.
    """
    if not enabled():
        return compute()
    customer_ids = sorted(set(customer_ids))
    tokens = _tokens([_portal_key(portal_id)] + [_customer_key(pk) for pk in customer_ids])
    if tokens is None:
        return compute()
    digest = hashlib.sha256(
        "|".join([what, str(portal_id), ",".join(map(str, customer_ids)), *tokens]).encode()
    ).hexdigest()
    key = f"invoice-figures:portal:{portal_id}:{digest}"
    figures = safe_cache.get(key)
    if figures is None:
        figures = compute()
        safe_cache.set(key, figures, settings.DASHBOARD_FIGURES_CACHE_SECONDS)
    return figures


def _invoice_written(sender, instance, **kwargs) -> None:
    if instance.customer_id is not None:
        invoice_figures_changed(customer_ids=[instance.customer_id])


def connect_signals() -> None:
    from .models import Invoice

    post_save.connect(_invoice_written, sender=Invoice, dispatch_uid="invoice_figures_saved")
    post_delete.connect(_invoice_written, sender=Invoice, dispatch_uid="invoice_figures_deleted")
