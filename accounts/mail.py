"""Branded mail for a portal: text and HTML, the portal's name as sender name and its colour.

Sending raises on failure (SMTP errors, refused connections): the Celery task retries those.
"""

import re
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from portal.models import Portal

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND_COLOUR = "#1a56db"


def brand_colour(portal: Portal) -> str:
    """The portal's colour if it is a plain hex colour; it goes into a style attribute of the mail."""
    colour = portal.primary_colour or ""
    return colour if _HEX_COLOUR.match(colour) else DEFAULT_BRAND_COLOUR


def sender_for(portal: Portal) -> str:
    """``"<portal name>" <the configured no-reply address>``: people recognise the portal in their inbox."""
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if not address:
        return settings.DEFAULT_FROM_EMAIL
    display = " ".join(portal.name.split())[:100]  # no line breaks can reach a header
    return formataddr((display, address))


def portal_mail_send(*, portal: Portal, to: str, subject: str, template: str, context: dict) -> None:
    """Render ``emails/<template>.txt`` and ``.html`` and send them as one message to ``to``."""
    full_context = {"portal": portal, "brand_colour": brand_colour(portal), **context}
    text = render_to_string(f"emails/{template}.txt", full_context)
    html = render_to_string(f"emails/{template}.html", full_context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=sender_for(portal),
        to=[to],
        reply_to=[portal.support_email] if portal.support_email else None,
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)
