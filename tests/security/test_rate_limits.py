"""Issue 8, item 4: rate limits per (portal, email) and per (portal, client network), the client IP read
through TRUSTED_PROXY_COUNT proxies only, and a per-portal ceiling on code mails; 429 pages say when."""

import pytest
from django.core import mail
from django.test import Client

from accounts.audit import client_ip
from tests.factories import ContactFactory, CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_clock")]


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    def _ask(
        email: str, *, host: str = "acme.localhost", ip: str = "203.0.113.7", forwarded: str | None = None
    ):
        extra = {"REMOTE_ADDR": ip}
        if forwarded is not None:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded
        with django_capture_on_commit_callbacks(execute=True):
            return Client(HTTP_HOST=host).post("/login/", {"email": email}, **extra)

    return _ask


def test_code_requests_on_one_portal_do_not_lock_the_same_email_out_of_another(
    portal, other_portal, contact, ask
):
    ContactFactory(customer=CustomerFactory(portal=other_portal), email="alice@example.com")
    assert [ask("alice@example.com", host="globex.localhost").status_code for _ in range(6)][-1] == 429
    assert ask("alice@example.com", host="acme.localhost").status_code == 302
    assert mail.outbox[-1].to == ["alice@example.com"]


def test_code_requests_from_one_network_do_not_lock_it_out_of_another_portal(portal, other_portal, ask):
    assert [ask(f"p{i}@example.com").status_code for i in range(21)][-1] == 429
    assert ask("p0@example.com", host="globex.localhost").status_code == 302


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(portal, settings, ask):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    # 20 clients behind the proxy ask for random emails: nobody is locked out.
    statuses = [
        ask(f"r{i}@example.com", ip=proxy, forwarded=f"198.51.100.{i}").status_code for i in range(25)
    ]
    assert statuses == [302] * 25
    # One client asking 21 times is limited, whatever it writes to the left of the proxy's entry.
    for i in range(20):
        ask(f"s{i}@example.com", ip=proxy, forwarded=f"192.0.2.{i}, 198.51.100.200")
    response = ask("s20@example.com", ip=proxy, forwarded="192.0.2.99, 198.51.100.200")
    assert response.status_code == 429


def test_without_trusted_proxies_the_header_is_ignored(portal, ask):
    statuses = [ask(f"t{i}@example.com", forwarded=f"198.51.100.{i}").status_code for i in range(21)]
    assert statuses[-1] == 429  # all came from the same peer, whatever the header said


@pytest.mark.parametrize(
    ("count", "header", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.1", "198.51.100.1"),
        (2, "198.51.100.1", "10.0.0.2"),  # fewer entries than proxies: not through them
        (1, "not-an-ip", "10.0.0.2"),
        (1, "[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_client_ip_reads_exactly_the_trusted_entry(rf, settings, count, header, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=header)
    assert client_ip(request) == expected


def test_ipv6_clients_are_counted_per_64(portal, ask):
    for i in range(20):
        assert ask(f"v{i}@example.com", ip=f"2001:db8:5:6::{i + 1:x}").status_code == 302
    assert ask("v20@example.com", ip="2001:db8:5:6:abcd::1").status_code == 429  # same /64
    assert ask("v21@example.com", ip="2001:db8:5:7::1").status_code == 302  # next /64


def test_a_portal_wide_ceiling_on_code_mails_per_minute(portal, other_portal, settings, ask):
    # rate_limit_clock (every test here) holds the clock mid-minute: 30 s of the window are left.
    settings.LOGIN_CODE_MAILS_PER_PORTAL_PER_MINUTE = 3
    statuses = [ask(f"c{i}@example.com", ip=f"198.51.100.{i}").status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    response = ask("c9@example.com", ip="198.51.100.99")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 30
    assert "sending a lot of sign-in codes" in response.content.decode()
    assert "Please try again in" in response.content.decode()
    assert ask("c0@example.com", host="globex.localhost").status_code == 302  # another portal


def test_a_rate_limited_page_says_when_to_retry(portal, contact, ask):
    for _ in range(5):
        ask("alice@example.com")
    response = ask("alice@example.com")
    assert response.status_code == 429
    retry = int(response["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert "Please try again in" in response.content.decode()


def test_cache_keys_carry_the_portal(portal, ask):
    from django.core.cache import cache

    ask("k@example.com")
    keys = list(cache._cache.keys())  # the test cache is locmem
    limit_keys = [key for key in keys if "accounts:rl:" in key]
    assert limit_keys and all(f":p{portal.pk}:" in key for key in limit_keys)
