"""The development mailbox: in DEBUG, mail is printed to the console AND kept for ``/dev/mailbox/``.

Why: the first SSO login of a person only lets them in through a link mailed to them. On a laptop
with no mail server that link used to be buried in the console output; the dev mailbox shows each
message in the browser so the link can simply be clicked.

Storage is one JSON object per line in ``<DEVMAIL_DIR>/messages.jsonl`` (default ``<repo>/var/devmail``),
so the web process and a Celery worker (another process) can both append, under an exclusive file lock.
The file is trimmed to the newest ``MAX_MESSAGES`` now and then, so it never grows without bound.

Never used in production: the settings enable the backend only when ``DEBUG`` is on and the page
answers 404 unless ``DEBUG`` is on (the messages hold live sign-in links and codes).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.core.mail.message import EmailMessage
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from . import csp

logger = logging.getLogger(__name__)

MAX_MESSAGES = 200
# Trim once the file is this much larger than what MAX_MESSAGES needs; rewriting on every send
# would make each mail cost a full copy of the store.
TRIM_AT_BYTES = 2 * 1024 * 1024
STORE_NAME = "messages.jsonl"


@dataclass(frozen=True)
class DevMessage:
    id: str
    sent_at: datetime
    from_email: str
    to: list[str]
    subject: str
    text: str
    html: str

    @classmethod
    def from_json(cls, data: dict) -> DevMessage:
        return cls(
            id=str(data["id"]),
            sent_at=datetime.fromisoformat(data["sent_at"]),
            from_email=str(data.get("from_email", "")),
            to=[str(address) for address in data.get("to", [])],
            subject=str(data.get("subject", "")),
            text=str(data.get("text", "")),
            html=str(data.get("html", "")),
        )

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "sent_at": self.sent_at.isoformat(),
            "from_email": self.from_email,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        }


def devmail_dir() -> Path:
    configured = getattr(settings, "DEVMAIL_DIR", None)
    return Path(configured) if configured else Path(settings.BASE_DIR) / "var" / "devmail"


def _store_path() -> Path:
    return devmail_dir() / STORE_NAME


@contextmanager
def _locked(mode: str) -> Iterator:
    """The store opened with an exclusive lock (writers in several processes must not interleave)."""
    path = _store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _html_body(message: EmailMessage) -> str:
    for content, mimetype in getattr(message, "alternatives", None) or []:
        if mimetype == "text/html":
            return content if isinstance(content, str) else content.decode("utf-8", "replace")
    if getattr(message, "content_subtype", "") == "html":
        return str(message.body)
    return ""


def _text_body(message: EmailMessage) -> str:
    if getattr(message, "content_subtype", "") == "html":
        return ""
    return str(message.body or "")


def message_record(message: EmailMessage) -> DevMessage:
    return DevMessage(
        id=uuid.uuid4().hex,
        sent_at=timezone.now(),
        from_email=str(message.from_email or ""),
        to=[str(address) for address in [*message.to, *message.cc, *message.bcc]],
        subject=str(message.subject or ""),
        text=_text_body(message),
        html=_html_body(message),
    )


def devmail_store(*, messages: list[DevMessage]) -> None:
    """Append ``messages`` to the store, trimming it to the newest ``MAX_MESSAGES`` when it is big."""
    if not messages:
        return
    lines = "".join(json.dumps(m.to_json(), ensure_ascii=False) + "\n" for m in messages)
    with _locked("a+") as handle:
        handle.write(lines)
        handle.flush()
        if handle.tell() > TRIM_AT_BYTES:
            handle.seek(0)
            keep = handle.readlines()[-MAX_MESSAGES:]
            handle.seek(0)
            handle.truncate()
            handle.writelines(keep)
            handle.flush()
        os.fsync(handle.fileno())


def devmail_messages(*, limit: int = MAX_MESSAGES) -> list[DevMessage]:
    """The stored messages, newest first. A damaged line (e.g. a crash mid-write) is skipped."""
    path = _store_path()
    if not path.exists():
        return []
    with _locked("r") as handle:
        lines = handle.readlines()[-MAX_MESSAGES:]
    messages = []
    for line in lines:
        try:
            messages.append(DevMessage.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    messages.sort(key=lambda m: m.sent_at, reverse=True)
    return messages[:limit]


def devmail_message(*, message_id: str) -> DevMessage | None:
    return next((m for m in devmail_messages() if m.id == message_id), None)


def devmail_clear() -> None:
    path = _store_path()
    if path.exists():
        with _locked("r+") as handle:
            handle.truncate(0)


class DevMailboxBackend(ConsoleEmailBackend):
    """Django's console backend that also keeps each message for the dev mailbox page."""

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        sent = super().send_messages(email_messages)
        try:
            devmail_store(messages=[message_record(m) for m in email_messages])
        except OSError:
            # The console copy went out. Raising would make the sending task retry and print the mail
            # again; a read-only or full disk only costs the mailbox copy.
            logger.warning("could not store a message in the dev mailbox at %s", devmail_dir(), exc_info=True)
        return sent


# --- the page: /dev/mailbox/ ------------------------------------------------------------------


def _debug_only() -> None:
    """The mailbox holds live sign-in links and codes: it exists only in DEBUG (the demo)."""
    if not settings.DEBUG:
        raise Http404("No such page.")


def _no_store(response):
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def mailbox_list(request):
    """Every stored message, newest first; POST empties the mailbox."""
    _debug_only()
    if request.method == "POST":
        devmail_clear()
        return redirect("devmail_list")
    return _no_store(
        render(
            request, "portal/devmail_list.html", {"messages_list": devmail_messages(), "store": devmail_dir()}
        )
    )


@require_GET
def mailbox_detail(request, message_id: str):
    """One message: the text body with its links clickable, the HTML body only in a sandboxed iframe.

    ``sandbox`` with no permissions runs no script and gives the mail no access to this origin, so a
    message's HTML can never act as the page (the ``srcdoc`` attribute is autoescaped).
    """
    _debug_only()
    message = devmail_message(message_id=message_id)
    if message is None:
        raise Http404("No such message (the mailbox keeps the newest messages only).")
    response = render(request, "portal/devmail_detail.html", {"mail": message})
    # The mail's HTML (our own templates) styles itself inline; the srcdoc frame inherits this page's
    # policy, so this page alone allows inline styles. Scripts stay refused (and the frame is sandboxed).
    response[csp.HEADER] = csp.csp_header_value(request.csp_nonce).replace(
        f"style-src 'self' 'nonce-{request.csp_nonce}'", "style-src 'self' 'unsafe-inline'"
    )
    return _no_store(response)
