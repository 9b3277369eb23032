"""Issue 8, item 5: the six-digit code cannot be guessed over days, and POST /login/ does the same work
for known and unknown emails."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent, LoginCodeFailureDay
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

CODE = re.compile(r"^\s*(\d{6})\s*$", re.M)


@pytest.fixture
def attacker(django_capture_on_commit_callbacks):
    """A guesser who rotates source addresses: every round is a new browser from a new address."""

    class Attacker:
        rounds = 0

        def new_round(self, email: str, host: str = "acme.localhost") -> Client:
            self.rounds += 1
            browser = Client(HTTP_HOST=host, REMOTE_ADDR=f"198.51.100.{self.rounds}")
            with django_capture_on_commit_callbacks(execute=True):
                assert browser.post("/login/", {"email": email}).status_code == 302
            return browser

        def guess(self, browser: Client, code: str):
            with django_capture_on_commit_callbacks(execute=True):  # the alert mail is queued on commit
                return browser.post("/login/code/", {"code": code})

    return Attacker()


def latest_code(email: str) -> str | None:
    for message in reversed(mail.outbox):
        if message.to == [email] and "code" in message.subject.lower() and "trying" not in message.subject:
            return CODE.search(message.body).group(1)
    return None


def wrong(code: str | None) -> str:
    return f"{(int(code or 0) + 1) % 10**6:06d}"


def spend_budget(attacker, email: str, host: str = "acme.localhost") -> tuple[Client, str | None]:
    """Four codes with five wrong guesses each: the daily budget of 20, spent by the last guess. A
    fifth code, asked for before that last guess, is returned with its browser."""
    for round_ in range(4):
        browser = attacker.new_round(email, host)
        for guess in range(5):
            if round_ == 3 and guess == 4:
                fresh = attacker.new_round(email, host)
                fresh_code = latest_code(email)
            attacker.guess(browser, wrong(latest_code(email) if round_ < 3 or guess < 4 else fresh_code))
    return fresh, fresh_code


def test_after_twenty_wrong_codes_code_sign_in_pauses_for_the_day(contact, attacker):
    browser, code = spend_budget(attacker, "alice@example.com")
    assert AuditEvent.objects.filter(kind="code_paused", email="alice@example.com").count() == 1

    # Even the right code, asked for before the pause, no longer works today.
    response = attacker.guess(browser, code)
    assert response.status_code == 429
    text = response.content.decode()
    assert "paused until 00:00 UTC" in text and "HaloPSA" in text
    assert 0 < int(response["Retry-After"]) <= 24 * 3600
    assert SESSION_KEY not in browser.session
    assert AuditEvent.objects.filter(kind="code_paused_refused").exists()


def test_the_person_is_told_by_mail(contact, attacker):
    spend_budget(attacker, "alice@example.com")
    [alert] = [m for m in mail.outbox if "trying sign-in codes" in m.subject]
    assert alert.to == ["alice@example.com"]
    assert "20 wrong sign-in codes" in alert.body and "paused until" in alert.body
    assert AuditEvent.objects.filter(kind="code_alert_sent", email="alice@example.com").exists()


def test_asking_for_a_code_while_paused_says_so_and_sends_nothing(
    contact, attacker, django_capture_on_commit_callbacks
):
    spend_budget(attacker, "alice@example.com")
    cache.clear()  # past the per-email request limit's window: only the pause can refuse now
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(HTTP_HOST="acme.localhost", REMOTE_ADDR="192.0.2.1").post(
            "/login/", {"email": "alice@example.com"}
        )
    assert response.status_code == 429 and "paused until" in response.content.decode()
    assert len(mail.outbox) == sent


def test_unknown_emails_pause_alike_and_get_no_mail(portal, attacker):
    browser, _code = spend_budget(attacker, "mallory@example.com")
    response = attacker.guess(browser, "123456")
    assert response.status_code == 429 and "paused until" in response.content.decode()
    assert not [m for m in mail.outbox if m.to == ["mallory@example.com"]]
    assert LoginCodeFailureDay.objects.get(email="mallory@example.com").skipped_at is not None


def test_the_pause_is_per_portal_and_ends_with_the_day(contact, other_portal, attacker):
    ContactFactory(customer=CustomerFactory(portal=other_portal), email="alice@example.com")
    spend_budget(attacker, "alice@example.com")
    # The same email on another portal is untouched.
    globex = attacker.new_round("alice@example.com", host="globex.localhost")
    assert attacker.guess(globex, latest_code("alice@example.com")).status_code == 302
    # Tomorrow the budget is fresh again.
    LoginCodeFailureDay.objects.update(day=timezone.now().date() - timedelta(days=1))
    cache.clear()  # and the per-email request limit's window is long over
    browser = attacker.new_round("alice@example.com")
    assert attacker.guess(browser, latest_code("alice@example.com")).status_code == 302


def test_codes_stay_six_digits(contact, attacker):
    attacker.new_round("alice@example.com")
    assert re.fullmatch(r"\d{6}", latest_code("alice@example.com"))


def _request_queries(email: str, django_capture_on_commit_callbacks) -> tuple[list[str], int]:
    browser = Client(HTTP_HOST="acme.localhost", REMOTE_ADDR="203.0.113.50")
    browser.get("/login/")
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        response = browser.post("/login/", {"email": email})
    assert response.status_code == 302
    shapes = [re.sub(r"'[^']*'|\b\d+\b|\"s\d+_x\d+\"", "?", q["sql"]) for q in queries.captured_queries]
    return shapes, len(callbacks)


def test_post_login_does_the_same_work_for_known_and_unknown_emails(
    contact, django_capture_on_commit_callbacks
):
    known, known_tasks = _request_queries("alice@example.com", django_capture_on_commit_callbacks)
    unknown, unknown_tasks = _request_queries("mallory@example.com", django_capture_on_commit_callbacks)
    assert known == unknown
    assert known_tasks == unknown_tasks == 1  # one mail task each; the task looks the contact up
    assert not any("portal_contact" in sql for sql in known)
