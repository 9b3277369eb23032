"""The email-code login: request, code page, checking, limits, SSO-only refusal, logout."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.login_code import login_code_check, login_code_request
from accounts.models import AuditEvent, LoginCode, User
from tests.accounts.helpers import code_from
from tests.factories import ContactFactory, CustomerFactory, SSOConfigFactory

pytestmark = pytest.mark.django_db


def test_login_page_shows_the_email_form(client, portal):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b'<label for="id_email">' in response.content


def test_known_email_gets_one_code_by_mail(client, contact, request_code):
    response = request_code("alice@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/login/code/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "Acme" in message.subject
    code = code_from(message)
    row = LoginCode.objects.get()
    assert row.sent_at is not None and row.expires_at is not None
    assert row.code_hash and code not in row.code_hash  # only a keyed hash is stored
    assert AuditEvent.objects.filter(kind="code_requested", email="alice@example.com").exists()


def test_email_match_is_case_insensitive(client, contact, request_code):
    request_code("  ALICE@Example.COM ")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_unknown_email_is_indistinguishable(client, contact, request_code):
    known = request_code("alice@example.com")
    known_page = client.get("/login/code/")
    client.cookies.clear()
    unknown = request_code("mallory@example.com")
    unknown_page = client.get("/login/code/")
    assert len(mail.outbox) == 1  # only the contact got mail
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known_page.status_code == unknown_page.status_code == 200
    normalise = lambda page, email: (  # noqa: E731
        re.sub(r'nonce="[^"]+"', 'nonce=""', page.content.decode())  # the CSP nonce is per request
        .replace(email, "EMAIL")
        .split('name="csrfmiddlewaretoken" value="')[0]
    )
    assert normalise(known_page, "alice@example.com") == normalise(unknown_page, "mallory@example.com")
    # Wrong codes for either answer the same way.
    a = client.post("/login/code/", {"code": "000000"})
    assert a.status_code == 400
    assert b"isn&#x27;t right" in a.content


def test_contact_of_another_portal_gets_no_code(client, portal, other_portal, request_code):
    ContactFactory(customer=CustomerFactory(portal=other_portal), email="bob@example.com")
    request_code("bob@example.com")
    assert mail.outbox == []
    # The request made a row like any other (equal work); the task found no contact and sent nothing.
    row = LoginCode.objects.get()
    assert row.superseded and row.sent_at is None and not row.code_hash
    assert AuditEvent.objects.filter(kind="code_not_sent", email="bob@example.com").exists()


def test_right_code_signs_in_and_rotates_the_session(client, portal, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[0])
    before = client.session.session_key
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(portal=portal, email="alice@example.com")
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session.session_key != before
    assert AuditEvent.objects.filter(kind="signed_in", user=user).exists()
    assert client.get("/").status_code == 200


def test_existing_user_is_reused(client, user, request_code):
    request_code("alice@example.com")
    client.post("/login/code/", {"code": code_from(mail.outbox[0])})
    assert User.objects.filter(email="alice@example.com").count() == 1
    assert client.session[SESSION_KEY] == str(user.pk)


def test_code_accepts_spaces_and_dashes(client, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[0])
    response = client.post("/login/code/", {"code": f" {code[:3]} - {code[3:]} "})
    assert response.status_code == 302


def test_next_is_kept_through_the_code(client, contact, request_code):
    client.get("/login/?next=/invoices/")
    request_code("alice@example.com", next_url="/invoices/?status=open")
    response = client.post("/login/code/", {"code": code_from(mail.outbox[0])})
    assert response["Location"] == "/invoices/?status=open"


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example/",
        "//evil.example/path",
        "http://acme.localhost.evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http://globex.localhost/",
        "/" + "a" * 3000,
    ],
)
def test_open_redirect_next_is_refused(client, contact, request_code, evil):
    request_code("alice@example.com", next_url=evil)
    response = client.post("/login/code/", {"code": code_from(mail.outbox[0])})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_wrong_code_is_refused_and_counted(client, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    response = client.post("/login/code/", {"code": wrong})
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert LoginCode.objects.get().attempts == 1
    assert AuditEvent.objects.filter(kind="code_failed").exists()


def test_five_wrong_tries_kill_the_code(client, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    statuses = [client.post("/login/code/", {"code": wrong}).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    assert LoginCode.objects.get().attempts == 5
    assert AuditEvent.objects.filter(kind="code_locked").count() == 1
    # The right code no longer works, in this browser...
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 429
    assert b"Too many wrong tries" in response.content
    assert SESSION_KEY not in client.session
    # ...nor anywhere else: the code itself is dead.
    result = login_code_check(portal=contact.customer.portal, email="alice@example.com", code=code)
    assert result.status == "locked"
    # A new code works.
    request_code("alice@example.com")
    assert client.post("/login/code/", {"code": code_from(mail.outbox[1])}).status_code == 302


def test_unknown_email_locks_after_five_tries_too(client, portal, request_code):
    request_code("mallory@example.com")
    statuses = [client.post("/login/code/", {"code": "123456"}).status_code for _ in range(6)]
    assert statuses == [400, 400, 400, 400, 429, 429]


def _lock_from_one_browser_then_guess_from_another(request_code, email) -> tuple[list[int], int, str]:
    """Two browsers ask for a code (the second's is the live one); the first spends five wrong tries
    (its own per-browser limit), then the second guesses once."""
    first, second = Client(HTTP_HOST="acme.localhost"), Client(HTTP_HOST="acme.localhost")
    assert request_code(email, c=first).status_code == 302
    assert request_code(email, c=second).status_code == 302
    answers = [first.post("/login/code/", {"code": "000000"}).status_code for _ in range(5)]
    response = second.post("/login/code/", {"code": "000000"})
    return answers, response.status_code, response.content.decode()


def test_no_sequence_of_answers_tells_a_contact_from_a_stranger(portal, contact, request_code):
    """The stranger's request row counts and locks like a contact's code, so another browser's first
    guess reads the same for both (it used to be "too many tries" for a contact only)."""
    known = _lock_from_one_browser_then_guess_from_another(request_code, "alice@example.com")
    unknown = _lock_from_one_browser_then_guess_from_another(request_code, "nobody@example.com")
    assert known[:2] == unknown[:2] == ([400, 400, 400, 400, 429], 429)
    assert "Too many wrong tries" in known[2] and "Too many wrong tries" in unknown[2]


def test_a_strangers_request_expires_when_a_code_would(client, portal, request_code):
    request_code("nobody@example.com")
    row = LoginCode.objects.get()
    assert row.superseded and not row.code_hash
    assert timedelta(minutes=15) <= row.expires_at - row.created_at < timedelta(minutes=15, seconds=10)
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.post("/login/code/", {"code": "123456"}).status_code == 400
    assert LoginCode.objects.get().attempts == 0  # expired, like a contact's code: no counting


def test_expired_code_is_refused(client, contact, request_code):
    request_code("alice@example.com")
    code = code_from(mail.outbox[0])
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_code_is_valid_fifteen_minutes(client, contact, request_code):
    request_code("alice@example.com")
    row = LoginCode.objects.get()
    assert timedelta(minutes=14, seconds=50) < row.expires_at - row.sent_at <= timedelta(minutes=15)


def test_code_works_once(portal, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        login_code_request(portal=portal, email="alice@example.com")
    code = code_from(mail.outbox[0])
    assert login_code_check(portal=portal, email="alice@example.com", code=code).status == "ok"
    assert login_code_check(portal=portal, email="alice@example.com", code=code).status == "invalid"


def test_new_request_supersedes_older_codes(client, contact, request_code):
    request_code("alice@example.com")
    request_code("alice@example.com")
    first, second = code_from(mail.outbox[0]), code_from(mail.outbox[1])
    assert LoginCode.objects.filter(superseded=True).count() == 1
    if first != second:
        assert client.post("/login/code/", {"code": first}).status_code == 400
    assert client.post("/login/code/", {"code": second}).status_code == 302


def test_inactive_user_cannot_sign_in(client, user, request_code):
    User.objects.filter(pk=user.pk).update(is_active=False)
    request_code("alice@example.com")
    response = client.post("/login/code/", {"code": code_from(mail.outbox[0])})
    assert response.status_code == 403
    assert SESSION_KEY not in client.session


def test_rate_limit_per_email(client, contact, request_code):
    statuses = [request_code("alice@example.com").status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]
    assert len(mail.outbox) == 5
    response = request_code("alice@example.com")
    assert b"Please try again in" in response.content and int(response["Retry-After"]) > 0
    assert AuditEvent.objects.filter(kind="code_rate_limited").exists()


def test_rate_limit_per_ip(client, portal, request_code, rate_limit_clock):
    statuses = [request_code(f"person{i}@example.com").status_code for i in range(21)]
    assert statuses == [302] * 20 + [429]
    # Another address is not affected.
    assert request_code("person0@example.com", REMOTE_ADDR="198.51.100.9").status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"email": "a" * 10_000 + "@example.com"},
        {"email": "not-an-email"},
        {"email": ""},
        {"email": "alice@example.com\x00"},
        {},
    ],
)
def test_malformed_email_is_a_form_error(client, contact, data):
    response = client.post("/login/", data)
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert mail.outbox == []


@pytest.mark.parametrize(
    "code", ["abc", "12345", "1234567", "9" * 5000, "\uff11\uff12\uff13\uff14\uff15\uff16", "12345\x00", ""]
)
def test_malformed_code_is_a_form_error(client, contact, request_code, code):
    request_code("alice@example.com")
    response = client.post("/login/code/", {"code": code})
    assert response.status_code == 400
    assert LoginCode.objects.get().attempts == 0  # not a guess at the code


def test_code_page_without_a_request_goes_back_to_login(client, portal):
    response = client.get("/login/code/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.post("/login/code/", {"code": "123456"}).status_code == 302


def test_signed_in_person_is_sent_on_from_login(client, user):
    client.force_login(user)
    assert client.get("/login/")["Location"] == "/"
    assert client.get("/login/?next=/invoices/")["Location"] == "/invoices/"


# --- SSO-only portals and the SSO buttons --------------------------------------------------------


def test_sso_only_portal_shows_no_form_and_refuses_codes(client, portal, contact):
    portal.sso_only = True
    portal.save()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="email"' not in page.content
    assert b"contact your provider" in page.content
    assert client.post("/login/", {"email": "alice@example.com"}).status_code == 403
    assert client.get("/login/code/").status_code == 403
    assert client.post("/login/code/", {"code": "123456"}).status_code == 403
    assert mail.outbox == []
    assert not LoginCode.objects.exists()


def test_sso_buttons_carry_next(client, portal):
    config = SSOConfigFactory(portal=portal, description="Acme Support")
    SSOConfigFactory(portal=portal, description="Hidden", show_button=False)
    SSOConfigFactory(portal=portal, description="Off", enabled=False)
    page = client.get("/login/?next=/invoices/%3Fstatus%3Dopen")
    content = page.content.decode()
    assert f'href="/sso/{config.key}/login/?next=%2Finvoices%2F%3Fstatus%3Dopen"' in content
    assert "Sign in with Acme Support" in content
    assert "Hidden" not in content and "Off" not in content
    assert 'name="email"' in content  # not SSO-only: both ways


def test_sso_buttons_drop_an_unsafe_next(client, portal):
    config = SSOConfigFactory(portal=portal)
    content = client.get("/login/?next=https://evil.example/").content.decode()
    assert f'href="/sso/{config.key}/login/"' in content
    assert "evil.example" not in content


def test_sso_only_portal_with_buttons_shows_only_buttons(client, portal):
    portal.sso_only = True
    portal.save()
    SSOConfigFactory(portal=portal)
    content = client.get("/login/").content.decode()
    assert "/sso/" in content
    assert 'name="email"' not in content
    assert "contact your provider" not in content


# --- logout -----------------------------------------------------------------------------------------


def test_logout_get_asks_and_post_signs_out(client, user):
    client.force_login(user)
    page = client.get("/logout/")
    assert page.status_code == 200
    assert SESSION_KEY in client.session
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert SESSION_KEY not in client.session
    assert AuditEvent.objects.filter(kind="signed_out", user=user).exists()
    assert client.get("/")["Location"].startswith("/login/")


def test_oversized_request_body_is_a_400_not_a_500(client, contact, request_code):
    response = client.post("/login/", {"email": "a@example.com", "padding": "x" * 400_000})
    assert response.status_code == 400
    request_code("alice@example.com")
    response = client.post("/login/code/", {"code": "1" * 400_000})
    assert response.status_code == 400
    assert LoginCode.objects.get().attempts == 0
