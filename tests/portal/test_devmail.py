"""The dev mailbox: a console mail backend that also keeps messages for ``/dev/mailbox/`` (DEBUG only)."""

import io
import json
import os
import subprocess
import sys

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from portal import devmail
from portal.devmail import DevMailboxBackend, devmail_messages

pytestmark = pytest.mark.django_db

VERIFY_URL = "http://acme.localhost:8000/accounts/verify/abc123DEF/"


@pytest.fixture(autouse=True)
def devmail_dir(settings, tmp_path):
    settings.DEVMAIL_DIR = str(tmp_path / "devmail")
    return tmp_path / "devmail"


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def _send(
    subject="Confirm your email", text=f"Open {VERIFY_URL} to sign in.", html=None, to="alice@example.com"
):
    stream = io.StringIO()
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email="Acme <no-reply@x.invalid>", to=[to]
    )
    if html is not None:
        message.attach_alternative(html, "text/html")
    sent = DevMailboxBackend(stream=stream).send_messages([message])
    return sent, stream.getvalue()


def test_backend_prints_and_stores_text_and_html(devmail_dir):
    sent, console = _send(html="<p>Hello <a href='x'>link</a></p>")
    assert sent == 1
    assert "Subject: Confirm your email" in console  # the console copy, as Django's console backend
    [stored] = devmail_messages()
    assert stored.to == ["alice@example.com"]
    assert stored.subject == "Confirm your email"
    assert VERIFY_URL in stored.text
    assert stored.html == "<p>Hello <a href='x'>link</a></p>"
    assert stored.sent_at.tzinfo is not None
    line = (devmail_dir / "messages.jsonl").read_text().strip()
    assert json.loads(line)["id"] == stored.id


def test_html_only_message_keeps_html_as_html():
    message = mail.EmailMessage(subject="S", body="<b>hi</b>", to=["a@example.com"])
    message.content_subtype = "html"
    DevMailboxBackend(stream=io.StringIO()).send_messages([message])
    [stored] = devmail_messages()
    assert stored.html == "<b>hi</b>"
    assert stored.text == ""


def test_messages_newest_first_and_damaged_lines_skipped(devmail_dir):
    _send(subject="first")
    _send(subject="second")
    with (devmail_dir / "messages.jsonl").open("a") as handle:
        handle.write('{"id": "broken", "sent_at": \n')
    assert [m.subject for m in devmail_messages()] == ["second", "first"]


def test_store_is_trimmed(monkeypatch):
    monkeypatch.setattr(devmail, "MAX_MESSAGES", 3)
    monkeypatch.setattr(devmail, "TRIM_AT_BYTES", 1)
    for n in range(6):
        _send(subject=f"m{n}")
    assert [m.subject for m in devmail_messages()] == ["m5", "m4", "m3"]


def test_store_failure_does_not_fail_the_send(monkeypatch):
    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(devmail, "devmail_store", broken)
    sent, console = _send()
    assert sent == 1
    assert "Confirm your email" in console


def test_mailbox_is_404_without_debug(client, portal):
    _send()
    [stored] = devmail_messages()
    assert client.get("/dev/mailbox/").status_code == 404
    assert client.get(f"/dev/mailbox/{stored.id}/").status_code == 404
    assert client.post("/dev/mailbox/").status_code == 404
    assert len(devmail_messages()) == 1


def test_mailbox_lists_messages_newest_first(client, portal, debug):
    _send(subject="Older one")
    _send(subject="Newer one")
    response = client.get("/dev/mailbox/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert body.index("Newer one") < body.index("Older one")


def test_empty_mailbox_says_so(client, portal, debug):
    response = client.get("/dev/mailbox/")
    assert b"No mail yet" in response.content


def test_message_page_makes_links_clickable_and_sandboxes_html(client, portal, debug):
    _send(html='<p>Hi</p><script>alert("x")</script><a href="https://evil.example/">x</a>')
    [stored] = devmail_messages()
    response = client.get(f"/dev/mailbox/{stored.id}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<a href="{VERIFY_URL}"' in body
    assert 'sandbox=""' in body
    # The HTML body exists only inside the escaped srcdoc attribute, never as markup of this page.
    assert "<script>alert" not in body
    assert 'srcdoc="&lt;p&gt;Hi&lt;/p&gt;&lt;script&gt;' in body


def test_unknown_or_malformed_message_is_404(client, portal, debug):
    assert client.get("/dev/mailbox/0123456789abcdef0123456789abcdef/").status_code == 404
    assert client.get("/dev/mailbox/not%20a%20slug/").status_code == 404


def test_post_empties_the_mailbox(client, portal, debug):
    _send()
    response = client.post("/dev/mailbox/")
    assert response.status_code == 302
    assert devmail_messages() == []


def _settings_backend(**env) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "DEVMAIL"))}
    full_env.update(env)
    code = "from django.conf import settings; print(settings.EMAIL_BACKEND)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**full_env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({"DEBUG": "true"}, "portal.devmail.DevMailboxBackend"),
        ({"DEBUG": "true", "DEVMAIL": "false"}, "django.core.mail.backends.console.EmailBackend"),
        (
            {"DEBUG": "true", "EMAIL_URL": "smtp://127.0.0.1:25"},
            "django.core.mail.backends.smtp.EmailBackend",
        ),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "django.core.mail.backends.console.EmailBackend"),
    ],
)
def test_settings_use_the_mailbox_only_in_debug_with_console_mail(env, backend):
    assert _settings_backend(**env) == backend
