import datetime
import math
import re
from urllib.parse import quote

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import escape, format_html

from portal.money import format_money

register = template.Library()


@register.filter
def date_element(value) -> str:
    """``{{ invoice.due_on|date_element }}`` → ``<time datetime="2026-03-01">1 Mar 2026</time>``.

    The same text as ``<time datetime="{{ d|date:'Y-m-d' }}">{{ d|date:"j M Y" }}</time>``, in one
    step: the ``date`` filter looks up formats and builds a formatter per call, and a page of 25
    invoices makes 100 of those calls, a third of the table's rendering time.
    """
    if not isinstance(value, datetime.date):
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return format_html(
        '<time datetime="{}">{} {} {}</time>',
        value.isoformat(),
        value.day,
        MONTHS_3[value.month].title(),
        value.year,
    )


@register.filter
def money(amount, currency=""):
    """``{{ invoice.total|money:invoice.currency }}`` → ``$120.00``."""
    return format_money(amount, currency)


_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_FAVICON_COLOUR = "#1a56db"


def favicon_data_uri(*, initial: str, colour: str) -> str:
    """An SVG icon (a rounded square with one letter) as a data: URI, so no page asks for /favicon.ico."""
    colour = colour if _HEX_COLOUR.match(colour or "") else DEFAULT_FAVICON_COLOUR
    letter = (initial or "").strip()[:1].upper()
    letter = letter if letter.isalnum() else "€"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="7" fill="{colour}"/>'
        '<text x="16" y="23" font-family="system-ui,sans-serif" font-size="20" font-weight="700" '
        f'text-anchor="middle" fill="#fff">{escape(letter)}</text></svg>'
    )
    return "data:image/svg+xml," + quote(svg, safe="")


@register.simple_tag
def portal_favicon(portal=None):
    """``<link rel="icon">`` for the portal: its initial in its colour (a neutral icon without one)."""
    name = getattr(portal, "name", "") or "Billing portal"
    colour = getattr(portal, "primary_colour", "") or DEFAULT_FAVICON_COLOUR
    return format_html('<link rel="icon" href="{}">', favicon_data_uri(initial=name, colour=colour))


@register.filter
def expires_within(value, now=None) -> str:
    """When a link or code stops working, rounded up: "within 24 hours", "within 5 minutes", "expired".

    Django's ``timeuntil`` rounds down, so a fresh 24-hour link read "23 hours, 59 minutes" and one
    that had just expired "0 minutes".
    """
    if value is None:
        return ""
    seconds = (value - (now or timezone.now())).total_seconds()
    if seconds <= 0:
        return "expired"
    if seconds > 3600:
        hours = math.ceil(seconds / 3600)
        return f"within {hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, math.ceil(seconds / 60))
    return f"within {minutes} minute{'s' if minutes != 1 else ''}"
