"""The outbox: idempotent sending, secrets made at send time, SMTP retries, re-queueing."""

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import outbox, tasks
from accounts.login_code import login_code_request
from accounts.models import EmailVerification, Identity, LoginCode
from accounts.outbox import login_code_hash, outbox_requeue_unsent, verification_token_hash
from tests.accounts.helpers import code_from, link_from
from tests.accounts.mailbackends import FlakyBackend
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = "tests.accounts.mailbackends.FlakyBackend"
    FlakyBackend.failures_left = 0
    FlakyBackend.calls = 0
    yield FlakyBackend
    FlakyBackend.failures_left = 0


@pytest.fixture
def unsent_code(portal, contact):
    return LoginCode.objects.create(portal=portal, email="alice@example.com")


@pytest.fixture
def identity(portal, sso_config):
    return Identity.objects.create(
        portal=portal,
        sso_config=sso_config,
        issuer=sso_config.issuer,
        sub="halo-42",
        email="alice@example.com",
    )


@pytest.fixture
def unsent_verification(portal, identity):
    return EmailVerification.objects.create(
        portal=portal,
        identity=identity,
        email="alice@example.com",
        expires_at=timezone.now() + timedelta(hours=24),
    )


def test_mail_is_queued_only_after_commit(portal, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        login_code_request(portal=portal, email="alice@example.com")
    assert mail.outbox == []  # nothing leaves before the row is committed
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1


def test_send_is_idempotent(unsent_code):
    assert tasks.send_login_code.apply(args=[unsent_code.pk]).get() is True
    assert tasks.send_login_code.apply(args=[unsent_code.pk]).get() is False
    assert len(mail.outbox) == 1
    unsent_code.refresh_from_db()
    assert unsent_code.sent_at is not None


def test_code_is_made_at_send_time_and_only_its_hmac_stored(unsent_code):
    assert unsent_code.code_hash == "" and unsent_code.expires_at is None
    tasks.send_login_code.apply(args=[unsent_code.pk])
    unsent_code.refresh_from_db()
    code = code_from(mail.outbox[0])
    assert unsent_code.code_hash == login_code_hash(login_code_id=unsent_code.pk, code=code)
    assert unsent_code.code_hash != hashlib.sha256(code.encode()).hexdigest()  # keyed, not a bare hash


def test_verification_token_is_256_bits_and_stored_as_sha256(unsent_verification):
    tasks.send_email_verification.apply(args=[unsent_verification.pk])
    unsent_verification.refresh_from_db()
    link, token = link_from(mail.outbox[0])
    assert len(token) >= 43  # token_urlsafe(32): 256 bits
    assert unsent_verification.token_hash == verification_token_hash(token)
    assert token not in unsent_verification.token_hash
    assert link == f"http://acme.localhost:8000/accounts/verify/{token}/"


def test_mail_is_branded_text_and_html(portal, unsent_verification):
    portal.primary_colour = "#ff6600"
    portal.support_email = "billing@acme.example"
    portal.save()
    tasks.send_email_verification.apply(args=[unsent_verification.pk])
    message = mail.outbox[0]
    assert message.from_email.startswith("Acme <")
    assert message.reply_to == ["billing@acme.example"]
    assert "Acme" in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "#ff6600" in html and "Acme" in html
    _link, token = link_from(message)
    assert token in html
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"


def test_a_bad_colour_never_reaches_the_mail(portal, unsent_code):
    type(portal).objects.filter(pk=portal.pk).update(primary_colour='"><b>x"')
    tasks.send_login_code.apply(args=[unsent_code.pk])
    html = mail.outbox[0].alternatives[0][0]
    assert '"><b>' not in html and "#1a56db" in html


def test_smtp_failures_are_retried_then_sent_once(unsent_code, flaky_mail):
    flaky_mail.failures_left = 2
    tasks.send_login_code.apply(args=[unsent_code.pk])
    assert flaky_mail.calls == 3
    assert len(mail.outbox) == 1
    unsent_code.refresh_from_db()
    assert unsent_code.sent_at is not None
    assert unsent_code.send_attempts == 3
    # The code in the mail is the one whose hash is stored (failed attempts stored nothing).
    assert unsent_code.code_hash == login_code_hash(
        login_code_id=unsent_code.pk, code=code_from(mail.outbox[0])
    )


def test_retries_are_bounded_and_the_row_stays_unsent(unsent_code, flaky_mail):
    flaky_mail.failures_left = 100
    tasks.send_login_code.apply(args=[unsent_code.pk])
    assert flaky_mail.calls == 1 + tasks.send_login_code.max_retries
    unsent_code.refresh_from_db()
    assert unsent_code.sent_at is None and unsent_code.code_hash == ""
    # Beat picks it up again later.
    flaky_mail.failures_left = 0
    assert outbox_requeue_unsent() == 1
    assert len(mail.outbox) == 1


def test_task_options_retry_smtp_errors_with_backoff():
    for task in (tasks.send_login_code, tasks.send_email_verification):
        assert OSError in task.autoretry_for
        assert any(
            issubclass(exc, Exception) and exc.__name__ == "SMTPException" for exc in task.autoretry_for
        )
        assert task.retry_backoff and task.max_retries == 5


def test_superseded_or_used_rows_are_not_sent(unsent_code, unsent_verification):
    LoginCode.objects.filter(pk=unsent_code.pk).update(superseded=True)
    EmailVerification.objects.filter(pk=unsent_verification.pk).update(used_at=timezone.now())
    assert tasks.send_login_code.apply(args=[unsent_code.pk]).get() is False
    assert tasks.send_email_verification.apply(args=[unsent_verification.pk]).get() is False
    assert tasks.send_login_code.apply(args=[999_999]).get() is False
    assert mail.outbox == []


def test_requeue_picks_only_unsent_useful_rows(portal, identity, unsent_code, unsent_verification):
    now = timezone.now()
    # Not re-queued: already sent, superseded, expired, too old a code, queued a moment ago.
    LoginCode.objects.create(portal=portal, email="a@example.com", sent_at=now)
    LoginCode.objects.create(portal=portal, email="b@example.com", superseded=True)
    LoginCode.objects.create(portal=portal, email="c@example.com", created_at=now - timedelta(minutes=16))
    LoginCode.objects.create(portal=portal, email="d@example.com", last_queued_at=now - timedelta(seconds=10))
    EmailVerification.objects.create(
        portal=portal, identity=identity, email="e@example.com", expires_at=now - timedelta(seconds=1)
    )
    ContactFactory(customer=CustomerFactory(portal=portal), email="f@example.com")
    stale_queue = LoginCode.objects.create(
        portal=portal, email="f@example.com", last_queued_at=now - timedelta(minutes=2)
    )
    assert outbox_requeue_unsent() == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "alice@example.com", "f@example.com"]
    stale_queue.refresh_from_db()
    assert stale_queue.sent_at is not None
    # Running it again sends nothing more.
    assert outbox_requeue_unsent() == 0
    assert len(mail.outbox) == 3


def test_requeue_task_is_registered_under_the_beat_name():
    from portal.celery import app

    assert app.conf.beat_schedule["requeue-unsent-mail"]["task"] == "accounts.tasks.requeue_unsent_mail"
    assert tasks.requeue_unsent_mail.name == "accounts.tasks.requeue_unsent_mail"
    assert tasks.requeue_unsent_mail.apply().get() == 0


def test_publish_failure_is_swallowed_and_logged(unsent_code, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.send_login_code, "apply_async", broken)
    assert outbox.safe_enqueue(model=LoginCode, row_id=unsent_code.pk) is False
    unsent_code.refresh_from_db()
    assert unsent_code.sent_at is None and unsent_code.last_queued_at is None
    assert "outbox will retry" in caplog.text


def test_successful_publish_is_remembered(unsent_code, monkeypatch):
    monkeypatch.setattr(tasks.send_login_code, "apply_async", lambda *a, **k: None)
    assert outbox.safe_enqueue(model=LoginCode, row_id=unsent_code.pk) is True
    unsent_code.refresh_from_db()
    assert unsent_code.last_queued_at is not None
    assert outbox_requeue_unsent() == 0  # published less than a minute ago


def test_login_page_says_check_your_email_when_the_broker_is_down(
    client, contact, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise OSError("broker down")

    monkeypatch.setattr(tasks.send_login_code, "apply_async", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/login/", {"email": "alice@example.com"})
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    assert client.get("/login/code/").status_code == 200
    assert mail.outbox == []
    row = LoginCode.objects.get()
    assert row.sent_at is None
    monkeypatch.undo()
    assert outbox_requeue_unsent() == 1
    assert len(mail.outbox) == 1
