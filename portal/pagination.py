"""Page numbers over a long, totally ordered list, where the last page costs what the first does.

An ``OFFSET`` makes the database walk every row it skips: the last of 400 pages of a customer's
invoices walks 9,975 index entries to return 25. A page nearer the end than the start is read in
the reversed order instead, with the (small) offset from the end, and turned back around. That
gives exactly the rows of the forward read only when the order is total, which is why every
ordering of the invoice list ends in ``id`` (``portal.selectors.INVOICE_ORDERINGS``).
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


class NearestEndPaginator(Paginator):
    """A ``Paginator`` over an ordered ``QuerySet`` that reads each page from its nearer end."""

    def __init__(self, object_list: QuerySet, per_page: int, *, count: int | None = None):
        """``count``: the number of rows when the caller already knows it (a cached count)."""
        if not object_list.ordered:
            raise ValueError("NearestEndPaginator needs an ordered queryset (ending in a unique column).")
        super().__init__(object_list, per_page)  # no orphans: a page is exactly per_page rows
        if count is not None:
            self.__dict__["count"] = count  # Paginator.count is a cached_property

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        from_end = self.count - top
        if from_end < bottom:
            rows = list(self.object_list.reverse()[from_end : self.count - bottom])
            rows.reverse()
        else:
            rows = list(self.object_list[bottom:top])
        return self._get_page(rows, number, self)
