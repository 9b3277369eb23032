"""Writing one page of synced rows, including rows that trade unique values among themselves.

HaloPSA lets two users swap emails, or three clients rotate their names, in one edit; the portal holds
those values under unique constraints (a customer's name per portal, a contact's email per customer, an
invoice's number per customer). PostgreSQL checks a unique constraint that is not deferrable row by row,
as each row is written, so whichever row of a swap is written first clashes with the other's old value,
in one bulk UPDATE as much as in two saves. The constraints cannot simply be made deferrable: the
contacts' is on ``Lower(email)``, an expression index, which PostgreSQL cannot defer.

So the rows whose unique value changes are first moved to a placeholder nobody else can hold (derived
from the row's own primary key), then written with their final values, in one savepoint: a placeholder
is never committed and never seen outside the transaction. Tenant isolation holds: every statement here
is filtered by the caller's portal-scoped queryset.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.db import DataError, IntegrityError, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat

#: The name the page writes always logged under (they were written in halo.upserts).
logger = logging.getLogger("halo.upserts")


@dataclass(frozen=True)
class UniqueValue:
    """A column unique within another (``scope``), compared as the constraint compares it."""

    field: str
    scope: str
    portal: str  # the lookup from the model to its portal: every statement here is filtered by it
    fold_case: bool = False  # the constraint is on Lower(field)
    suffix: str = ""  # what makes a placeholder valid for the column (an email's domain)

    def key(self, scope_value, value: str) -> tuple:
        return scope_value, (value.lower() if self.fold_case else value)

    def placeholder(self, token: str):
        """``~<token>-<pk><suffix>``: the pk keeps placeholders apart, the per-write random token
        keeps them apart from any value a person could have typed (an unlucky match only sends the
        page to the row-by-row path). Short enough for every column it serves (invoice numbers: 50)."""
        pk = Cast(F("pk"), output_field=CharField())
        return Concat(Value(f"~{token}-"), pk, Value(self.suffix), output_field=CharField())


def page_write(model, creates: list, updates: list, fields: list[str], counts, unique=None, portal=None):
    """The page in a few statements; if the database refuses it, row by row, skipping what it refuses.

    ``unique`` is the ``UniqueValue`` the rows of ``portal`` may trade (none: nothing is moved first).
    Updates go before creates, so a new row can take a value an existing row of the page gives up. A
    page that failed whole would fail every later run at the same page, hence the row-by-row path.
    """
    scope = model.objects.filter(**{unique.portal: portal}) if unique else None
    moving = _moving(scope, unique, updates) if unique else {}
    token = secrets.token_hex(4)
    try:
        with transaction.atomic():
            _to_placeholders(scope, unique, moving, token)
            if updates:
                model.objects.bulk_update(updates, fields, batch_size=500)
            if creates:
                model.objects.bulk_create(creates, batch_size=500)
        return
    except (IntegrityError, DataError):
        logger.warning(
            "HaloPSA page refused as a whole; writing it row by row", extra={"model": model.__name__}
        )
    written = set()
    for group in _trades(unique, moving):
        # A swap or cycle only ever goes through whole: alone, each of its rows clashes with another.
        try:
            with transaction.atomic():
                _to_placeholders(scope, unique, {o.pk: moving[o.pk] for o in group}, token)
                for obj in group:
                    obj.save(update_fields=fields)
            written |= {obj.pk for obj in group}
        except (IntegrityError, DataError):
            pass
    pending = [(o, False) for o in updates if o.pk not in written] + [(o, True) for o in creates]
    for obj, insert in _one_by_one(pending, fields):
        counts.skipped += 1
        counts.created -= insert
        logger.warning(
            "HaloPSA row refused by the database", extra={"model": model.__name__, "halo_id": obj.halo_id}
        )


def _moving(scope, unique: UniqueValue, updates: list) -> dict:
    """{pk: (old key, object)} of the updates whose unique value changes, old keys as the database
    holds them now (read in the page's transaction, so they are the values the writes clash with)."""
    if not updates:
        return {}
    by_pk = {obj.pk: obj for obj in updates}
    stored = scope.filter(pk__in=by_pk).values_list("pk", unique.scope, unique.field)
    moving = {}
    for pk, scope_value, value in stored:
        obj, old = by_pk[pk], unique.key(scope_value, value)
        if unique.key(getattr(obj, unique.scope), getattr(obj, unique.field)) != old:
            moving[pk] = (old, obj)
    return moving


def _to_placeholders(scope, unique: UniqueValue | None, moving: dict, token: str) -> None:
    if moving:
        scope.filter(pk__in=moving).update(**{unique.field: unique.placeholder(token)})


def _trades(unique: UniqueValue | None, moving: dict) -> list[list]:
    """The groups of moving rows linked by one taking another's old value (chains, swaps, cycles),
    for the row-by-row path: a group of more than one row is written together."""
    if not moving:
        return []
    holder = {old: pk for pk, (old, _) in moving.items()}
    parent = {pk: pk for pk in moving}

    def root(pk):
        while parent[pk] != pk:
            parent[pk] = parent[parent[pk]]
            pk = parent[pk]
        return pk

    for pk, (_, obj) in moving.items():
        taken_from = holder.get(unique.key(getattr(obj, unique.scope), getattr(obj, unique.field)))
        if taken_from is not None:
            parent[root(pk)] = root(taken_from)
    groups: dict = {}
    for pk, (_, obj) in moving.items():
        groups.setdefault(root(pk), []).append(obj)
    return [group for group in groups.values() if len(group) > 1]


def _one_by_one(pending: list, fields: list[str]) -> list:
    """Each row in its own savepoint, in passes until a pass writes none: a row waiting for another to
    give its value up (a chain whose group failed) goes through once that one has. Returns the refused."""
    while pending:
        refused = []
        for obj, insert in pending:
            try:
                with transaction.atomic():
                    if insert:
                        obj.pk = None
                        obj.save(force_insert=True)
                    else:
                        obj.save(update_fields=fields)
            except (IntegrityError, DataError):
                refused.append((obj, insert))
        if len(refused) == len(pending):
            return refused
        pending = refused
    return []
