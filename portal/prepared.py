"""Hot single-row lookups whose SQL the ORM compiles once per process instead of on every request.

Why: every page and both halves of a login look up the portal by host name and most SSO pages
the config by key. Measured on PostgreSQL (``bench/profile_gunicorn.py``), compiling those two
small ``SELECT``s took about three times as long as running them: 0.2-0.5 ms of CPU each, on
every request, for SQL that never changes. A ``PreparedLookup`` builds its queryset once with
placeholder values, keeps the SQL and the column converters, and afterwards only executes it
with the real values and builds the instance the way the ORM does (``Model.from_db`` and the
fields' ``from_db_value``, so encrypted fields decrypt as usual).

Nothing is cached but SQL text: the database answers every lookup, so nothing can go stale and
no tenant can see another's row. The query goes through Django's cursor wrapper, so it is
counted and logged like any other (``assertNumQueries``, ``django_assert_max_num_queries``).

For lookups that select model instances, with ``select_related`` if need be (built by the ORM's
own related populators, as ``QuerySet.__iter__`` does); annotations and ``values()`` are refused
rather than built wrongly.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

_sentinels = itertools.count(1)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple  # constants, or a _Slot naming the value to put there
    attnames: list[str]
    start: int  # the model's own columns are row[start:end]
    end: int
    converters: dict  # position -> (converters, expression), as SQLCompiler.get_converters
    related: list  # RelatedPopulator per select_related join


@dataclass(frozen=True)
class _Slot:
    name: str


class PreparedLookup:
    """``build(**placeholders)`` returns the queryset; ``first(**values)`` runs it with ``values``.

    Values are passed as the columns hold them: a primary key, not a model instance; a string as
    it is stored (the caller lower-cases a host name, as the ORM lookup would not either).
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], *, ints: tuple[str, ...] = (),
                 strings: tuple[str, ...] = ()):  # fmt: skip
        self.model = model
        self.build = build
        self.ints = ints
        self.strings = strings
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        sentinels: dict[Any, str] = {}
        for name in self.ints:
            sentinels[-(10**12) - next(_sentinels)] = name  # no real key is negative
        for name in self.strings:
            sentinels[f"\x1fprepared:{name}:{next(_sentinels)}\x1f"] = name
        by_name = {name: value for value, name in sentinels.items()}
        queryset = self.build(**by_name)
        query = queryset.query
        if query.annotations or query.values_select or queryset.model is not self.model:
            raise ValueError("PreparedLookup selects model instances only.")
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if compiler.klass_info is None:
            raise ValueError("PreparedLookup selects model instances only.")
        slotted = tuple(_Slot(sentinels[p]) if _hashable(p) and p in sentinels else p for p in params)
        missing = set(sentinels.values()) - {p.name for p in slotted if isinstance(p, _Slot)}
        if missing:
            raise ValueError(f"PreparedLookup: {sorted(missing)} did not reach the SQL as parameters.")
        expressions = [column for column, _sql, _alias in compiler.select]
        own = compiler.klass_info["select_fields"]
        start, end = own[0], own[-1] + 1
        return _Compiled(
            sql=sql,
            params=slotted,
            attnames=[expression.target.attname for expression in expressions[start:end]],
            start=start,
            end=end,
            converters=compiler.get_converters(expressions),
            related=get_related_populators(compiler.klass_info, compiler.select, alias),
        )

    def compiled(self, alias: str = DEFAULT_DB_ALIAS) -> _Compiled:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias) or self._compile(alias)
                self._compiled[alias] = compiled
        return compiled

    def first(self, *, using: str = DEFAULT_DB_ALIAS, **values) -> Model | None:
        """The first row as a model instance, or None."""
        if set(values) != set(self.ints) | set(self.strings):
            raise TypeError(f"PreparedLookup needs exactly {sorted(set(self.ints) | set(self.strings))}.")
        compiled = self.compiled(using)
        params = [values[p.name] if isinstance(p, _Slot) else p for p in compiled.params]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, (converters, expression) in compiled.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        instance = self.model.from_db(using, compiled.attnames, row[compiled.start : compiled.end])
        for populator in compiled.related:
            populator.populate(row, instance)
        return instance


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
