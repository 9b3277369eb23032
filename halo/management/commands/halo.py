"""``manage.py halo connect|sync|test``: the contract's commands for a portal's HaloPSA API connection."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from halo.connection_test import halo_connection_test
from halo.selectors import halo_connection_for_portal
from halo.services import halo_connection_connect
from halo.sync import halo_sync_run
from portal.management.script_output import ScriptCommand
from portal.models import Portal, host_of


def _portal(value: str) -> Portal:
    host = host_of(value if "//" in value else f"http://{value}")
    portal = Portal.objects.filter(host=host).first()
    if portal is None:
        raise CommandError(f"No portal answers on {host!r}.")
    return portal


def sync_summary(run) -> dict:
    counts = run.counts or {}
    out = {
        kind: {
            "created": counts.get(kind, {}).get("created", 0),
            "updated": counts.get(kind, {}).get("updated", 0),
        }
        for kind in ("customers", "contacts", "invoices", "payments")
    }
    return {**out, "api_calls": run.api_calls, "error": run.error, "status": run.status, "run": run.pk}


def _named(exc: ValidationError) -> str:
    """``--client-id: This field cannot be blank.``: each message names the option it is about."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    return "; ".join(
        f"--{field.replace('_', '-')}: {message}" if field != "__all__" else message
        for field, errors in exc.message_dict.items()
        for message in errors
    )


class Command(ScriptCommand):
    help = "Connect a portal to HaloPSA's API, sync it, or test the connection."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        connect = sub.add_parser("connect")
        connect.add_argument("--portal", required=True)
        connect.add_argument("--client-id", required=True)
        connect.add_argument("--client-secret", required=True)
        connect.add_argument("--tenant")
        connect.add_argument("--api-url", default="")
        connect.add_argument("--auth-url", default="")
        connect.add_argument("--scope")
        connect.add_argument("--invoice-access", choices=["emails", "halo"])
        sync = sub.add_parser("sync")
        sync.add_argument("--portal", required=True)
        sync.add_argument("--full", action="store_true")
        test = sub.add_parser("test")
        test.add_argument("--portal", required=True)

    def handle(self, *args, **options):
        portal = _portal(options["portal"])
        action = options["action"]
        if action == "connect":
            try:
                connection = halo_connection_connect(
                    portal=portal,
                    client_id=options["client_id"],
                    client_secret=options["client_secret"],
                    tenant=options["tenant"],
                    api_url=options["api_url"],
                    auth_url=options["auth_url"],
                    scope=options["scope"],
                    invoice_access=options["invoice_access"],
                )
            except ValidationError as exc:
                raise CommandError(_named(exc)) from exc
            self.stdout.write(
                json.dumps(
                    {
                        "portal": portal.host,
                        "api_url": connection.api_url,
                        "auth_url": connection.auth_url,
                        "webhook_url": connection.webhook_url,
                        "webhook_username": connection.webhook_username,
                        "webhook_secret": connection.webhook_secret,
                        "invoice_access": portal.invoice_access,
                    }
                )
            )
            return
        connection = halo_connection_for_portal(portal=portal, enabled_only=False)
        if connection is None:
            raise CommandError(f"{portal.host} has no HaloPSA API connection; run `halo connect` first.")
        if action == "sync":
            run = halo_sync_run(connection=connection, full=options["full"], trigger="command")
            self.stdout.write(json.dumps(sync_summary(run)))
            if run.status != "ok":
                raise SystemExit(1)
            return
        result = halo_connection_test(connection=connection)
        for step in result.steps:
            self.stdout.write(f"{'ok  ' if step.ok else 'FAIL'} {step.name}: {step.message}")
        if not result.ok:
            raise SystemExit(1)
