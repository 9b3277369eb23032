"""Seed the portal's benchmark database: one portal, one SSO config at the benchmark provider, and a
person whose identity is already verified (so every login is a returning one). Prints the config key.

Run by ``bench/run.py`` with the portal's environment (``DATABASE_URL`` etc.) after ``migrate``.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from accounts.models import Identity, User  # noqa: E402
from portal.models import Contact, Customer, Portal  # noqa: E402
from sso.models import SSOConfig  # noqa: E402


def main(portal_url: str, issuer: str) -> None:
    portal = Portal.objects.create(name="Acme", url=portal_url)
    config = SSOConfig.objects.create(
        portal=portal,
        description="HaloPSA",
        issuer=issuer,
        client_id="portal-client",
        enabled=True,  # configs start disabled until tested; the benchmark's provider is known good
    )
    customer = Customer.objects.create(portal=portal, name="Acme Ltd")
    Contact.objects.create(customer=customer, email="alice@example.com", name="Alice")
    user = User.objects.create_user(email="alice@example.com", portal=portal)
    Identity.objects.create(
        portal=portal,
        sso_config=config,
        issuer=issuer,
        sub="halo-user-1",
        email=user.email,
        user=user,
        verified_at=timezone.now(),
    )
    print(config.key)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
