"""One way to show a date-time in the admin, for code that builds HTML itself (list columns)."""

from datetime import datetime

from django.utils import formats, timezone


def admin_datetime(value: datetime | None, *, empty: str = "—") -> str:
    """``value`` in the local time zone and the admin's one format (``portal.formats``)."""
    if value is None:
        return empty
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
