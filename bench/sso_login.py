"""Benchmark: a returning person's SSO login, end to end, against a real provider on loopback.

Measures the callback (code exchange, ID-token validation, sign-in) and counts provider calls per
login; in steady state there must be exactly one (the token exchange). Run: ``make bench``.
Numbers depend on the machine; this is for comparing changes, not a test.
"""

import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment  # noqa: E402

from accounts.models import Identity, User  # noqa: E402
from tests.factories import ContactFactory, PortalFactory, SSOConfigFactory  # noqa: E402
from tests.oidc_op import TinyOP  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))


def main() -> None:
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    op = TinyOP()
    try:
        portal = PortalFactory(url="http://acme.localhost:8000")
        config = SSOConfigFactory(portal=portal, issuer=op.issuer, client_id=op.client_id)
        contact = ContactFactory(customer__portal=portal, email="alice@example.com")
        user = User.objects.create_user(email=contact.email, portal=portal)
        Identity.objects.create(
            portal=portal,
            sso_config=config,
            issuer=op.issuer,
            sub="halo-user-1",
            email=user.email,
            user=user,
            verified_at=django.utils.timezone.now(),
        )
        client = Client(HTTP_HOST="acme.localhost")
        timings, calls = [], []
        for _ in range(ROUNDS + 5):
            client.cookies.clear()
            authorize = client.get(f"/sso/{config.key}/login/")["Location"]
            callback = urlsplit(requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"])
            op.reset_calls()
            started = time.perf_counter()
            response = client.get(f"{callback.path}?{callback.query}")
            timings.append((time.perf_counter() - started) * 1000)
            calls.append(len(op.calls()))
            assert response.status_code == 302 and "_auth_user_id" in client.session, response.status_code
        timings, calls = timings[5:], calls[5:]  # the first rounds warm the discovery/JWKS cache
        timings.sort()
        print(f"returning SSO login callback, {ROUNDS} rounds")
        print(f"  median {statistics.median(timings):.1f} ms, p95 {timings[int(len(timings) * 0.95)]:.1f} ms")
        print(f"  provider calls per login: {sorted(set(calls))} (token exchange only)")
    finally:
        op.stop()


if __name__ == "__main__":
    main()
