"""Small pieces: masking, safe redirects, rate-limit windows."""

import pytest
from django.test import RequestFactory

from accounts.ratelimit import Limit, rate_limit_hit
from accounts.redirects import redirect_target, safe_next_url
from accounts.selectors import mask_email


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("alice@example.com", "a***e@example.com"),
        ("al@example.com", "a***l@example.com"),
        ("a@example.com", "a***@example.com"),
        ("weird@sub@example.com", "w***b@example.com"),
        ("no-at-sign", "***"),
        ("", "***"),
    ],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("secure", "url", "expected"),
    [
        (False, "/invoices/", "/invoices/"),
        (False, "/invoices/?status=open", "/invoices/?status=open"),
        # Only paths are kept: even this host's absolute URLs are dropped (one simple rule).
        (False, "http://acme.localhost/invoices/", ""),
        (True, "https://acme.localhost/invoices/", ""),
        (False, "/\\evil.example/", ""),
        (False, "/in\nvoices/", ""),
        (False, "javascript:alert(1)", ""),
        (False, "https://evil.example/", ""),
        (False, "//evil.example/", ""),
        (False, "", ""),
        (False, None, ""),
    ],
)
def test_safe_next_url(secure, url, expected):
    request = RequestFactory().get("/", HTTP_HOST="acme.localhost", secure=secure)
    assert safe_next_url(request=request, url=url) == expected


def test_redirect_target_defaults_to_the_dashboard():
    request = RequestFactory().get("/", HTTP_HOST="acme.localhost")
    assert redirect_target(request=request, url="https://evil.example/") == "/"


def test_rate_limit_counts_per_value_within_a_window():
    limit = Limit("test", 2, 3600)
    hits = [rate_limit_hit(limit=limit, portal=1, value="a") for _ in range(3)]
    assert hits[:2] == [0, 0] and 0 < hits[2] <= 3600  # over: the seconds until the window ends
    assert rate_limit_hit(limit=limit, portal=1, value="b") == 0
    assert rate_limit_hit(limit=limit, portal=1, value=None) == 0
