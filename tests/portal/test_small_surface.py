"""Small parts of the surface: expiry wording, the favicon, one admin date format."""

import datetime
from urllib.parse import unquote

import pytest
from django.utils import timezone

from portal.dates import admin_datetime
from portal.templatetags.portal_tags import expires_within, favicon_data_uri

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("delta", "wording"),
    [
        (datetime.timedelta(hours=24), "within 24 hours"),
        (datetime.timedelta(hours=23, minutes=59, seconds=30), "within 24 hours"),
        (datetime.timedelta(hours=1, seconds=1), "within 2 hours"),
        (datetime.timedelta(minutes=59), "within 59 minutes"),
        (datetime.timedelta(seconds=20), "within 1 minute"),
        (datetime.timedelta(seconds=0), "expired"),
        (datetime.timedelta(minutes=-5), "expired"),
    ],
)
def test_expiry_wording(delta, wording):
    assert expires_within(NOW + delta, NOW) == wording


def test_favicon_is_the_initial_in_the_portal_colour():
    svg = unquote(favicon_data_uri(initial="acme", colour="#aa3300"))
    assert svg.startswith("data:image/svg+xml,<svg") and 'fill="#aa3300"' in svg and ">A</text>" in svg
    hostile = unquote(favicon_data_uri(initial="<", colour='red"/><script>'))
    assert "<script>" not in hostile and 'fill="#1a56db"' in hostile


@pytest.mark.django_db
def test_pages_carry_the_favicon(client, portal):
    assert b'<link rel="icon" href="data:image/svg+xml,' in client.get("/login/").content


def test_admin_dates_have_one_format(settings):
    settings.TIME_ZONE = "UTC"
    value = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    assert admin_datetime(value) == "2026-03-04 05:06:07"
    assert admin_datetime(None) == "—"
    from django.utils import formats

    assert formats.date_format(timezone.localtime(value), "DATETIME_FORMAT") == "2026-03-04 05:06:07"
    assert formats.date_format(value.date(), "DATE_FORMAT") == "2026-03-04"
