"""``manage.py payments connect|test``: a portal's Stripe account from scripts (see CONTRACT.md).

``connect`` prints one JSON object (``webhook_url`` and the settings, never a key) and nothing else
on stdout. ``test`` prints what is wrong and exits 0 only when the keys work.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from payments.connection import stripe_account_connect, stripe_connection_test
from payments.models import StripeAccount
from portal.management.script_output import ScriptCommand
from portal.models import Portal, host_of


def _portal(value: str) -> Portal:
    host = host_of(value if "://" in value else f"http://{value}")
    portal = Portal.objects.filter(host=host).first()
    if portal is None:
        raise CommandError(f"No portal answers on {host!r}.")
    return portal


class Command(ScriptCommand):
    help = "Connect a portal to Stripe, or test its Stripe keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        connect = sub.add_parser("connect", help="Store the portal's Stripe keys (encrypted).")
        connect.add_argument("--portal", required=True)
        connect.add_argument("--secret-key", required=True)
        connect.add_argument("--publishable-key", required=True)
        connect.add_argument("--webhook-secret", required=True)
        connect.add_argument("--allow-partial", action="store_true")
        connect.add_argument("--allow-saved-cards", action="store_true")
        connect.add_argument(
            "--live", action="store_true", help="The portal takes real money: live keys only."
        )
        test = sub.add_parser("test", help="Check the portal's Stripe keys; exit 0 when they work.")
        test.add_argument("--portal", required=True)

    def handle(self, *args, action, **options):
        portal = _portal(options["portal"])
        if action == "connect":
            try:
                account = stripe_account_connect(
                    portal=portal,
                    secret_key=options["secret_key"],
                    publishable_key=options["publishable_key"],
                    webhook_secret=options["webhook_secret"],
                    allow_partial=options["allow_partial"],
                    allow_saved_cards=options["allow_saved_cards"],
                    live_mode=True if options["live"] else None,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self.stdout.write(
                json.dumps(
                    {
                        "portal": portal.host,
                        "webhook_url": account.webhook_url,
                        "publishable_key": account.publishable_key,
                        "live_mode": account.live_mode,
                        "allow_partial": account.allow_partial,
                        "allow_saved_cards": account.allow_saved_cards,
                    }
                )
            )
            return
        account = StripeAccount.objects.filter(portal=portal).first()
        if account is None:
            raise CommandError(f"{portal.host} has no Stripe account; run `payments connect` first.")
        result = stripe_connection_test(account=account)
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(result.message)
