"""``manage.py sso add|list|test``: SSO configs from scripts (see CONTRACT.md).

``add`` and ``list`` print JSON and nothing else on stdout, so scripts can parse it; the portal's
logs (which go to stdout in production) are moved to stderr while the command runs. The client
secret is never printed: ``list`` only says whether one is set.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from portal.management.script_output import ScriptCommand
from portal.models import Portal, host_of
from sso.connection_test import sso_connection_test
from sso.models import DEFAULT_SCOPE, SSOConfig
from sso.services import sso_config_create

_OPTION_OF_FIELD = {
    "issuer": "--issuer",
    "client_id": "--client-id",
    "client_secret": "--client-secret",
    "scope": "--scope",
    "tenant": "--tenant",
    "description": "--description",
    "logout_redirect_url": "--logout-redirect-url",
    "provider": "--provider",
}


def config_as_json(config: SSOConfig) -> dict:
    """What a script may know about a config: the URLs to register and its fields, never the secret."""
    return {
        "key": config.key,
        "callback_url": config.callback_url,
        "login_url": config.login_url,
        "portal": config.portal.host,
        "provider": config.provider,
        "description": config.description,
        "issuer": config.issuer,
        "client_id": config.client_id,
        "scope": config.scope,
        "tenant": config.tenant,
        "logout_redirect_url": config.logout_redirect_url,
        "enabled": config.enabled,
        "show_button": config.show_button,
        "has_client_secret": config.has_client_secret,
    }


def _portal_from(value: str) -> Portal:
    host = host_of(value) if "://" in value else value.strip().lower().split(":")[0].rstrip(".")
    portal = Portal.objects.filter(host=host).first()
    if portal is None:
        known = ", ".join(Portal.objects.order_by("host").values_list("host", flat=True)[:10]) or "none yet"
        raise CommandError(f"No portal answers on host “{host}”. Known hosts: {known}.")
    return portal


def _explain(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        lines = [
            f"{_OPTION_OF_FIELD.get(name, name)}: {message}"
            for name, errors in error.message_dict.items()
            for message in errors
        ]
        return "Invalid SSO config:\n  " + "\n  ".join(lines)
    return "Invalid SSO config: " + " ".join(error.messages)


class Command(ScriptCommand):
    help = "Manage SSO configs: add one, list them (JSON), or run a config's connection test."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{add,list,test}")

        add = sub.add_parser("add", help="Create an SSO config; prints its key and URLs as JSON.")
        add.add_argument("--portal", required=True, help="The portal's host name, e.g. acme.localhost.")
        add.add_argument("--issuer", required=True, help="e.g. https://acme.halopsa.com/auth")
        add.add_argument("--client-id", required=True, dest="client_id")
        add.add_argument("--client-secret", default="", dest="client_secret")
        add.add_argument("--tenant", default="")
        add.add_argument("--scope", default=DEFAULT_SCOPE)
        add.add_argument("--description", default="HaloPSA")
        add.add_argument("--provider", default=SSOConfig.Provider.HALOPSA, choices=SSOConfig.Provider.values)
        add.add_argument("--logout-redirect-url", default="", dest="logout_redirect_url")
        add.add_argument("--disabled", action="store_true", help="Create the config disabled.")
        add.add_argument("--hide-button", action="store_true", dest="hide_button")

        lst = sub.add_parser("list", help="Print SSO configs as a JSON list (never the secret).")
        lst.add_argument("--portal", help="Only this portal's configs (host name).")

        test = sub.add_parser("test", help="Run a config's connection test; exit status 0 when it passes.")
        test.add_argument("key", help="The config's key, e.g. x7k2p9-halopsa-m3n8q1.")

    def handle(self, *args, action: str, **options):
        return getattr(self, f"handle_{action}")(**options)

    def handle_add(self, **options) -> None:
        portal = _portal_from(options["portal"])
        try:
            config = sso_config_create(
                portal=portal,
                issuer=options["issuer"],
                client_id=options["client_id"],
                client_secret=options["client_secret"],
                scope=options["scope"],
                tenant=options["tenant"],
                description=options["description"],
                provider=options["provider"],
                logout_redirect_url=options["logout_redirect_url"],
                enabled=not options["disabled"],
                show_button=not options["hide_button"],
            )
        except ValidationError as exc:
            raise CommandError(_explain(exc)) from None
        result = {"key": config.key, "callback_url": config.callback_url, "login_url": config.login_url}
        self.stdout.write(json.dumps(result))

    def handle_list(self, **options) -> None:
        configs = SSOConfig.objects.select_related("portal").order_by("portal__host", "description", "id")
        if options.get("portal"):
            configs = configs.filter(portal=_portal_from(options["portal"]))
        self.stdout.write(json.dumps([config_as_json(config) for config in configs], indent=2))

    def handle_test(self, **options) -> None:
        key = options["key"].strip()
        config = SSOConfig.objects.select_related("portal").filter(key=key).first()
        if config is None:
            raise CommandError(f"No SSO config has the key “{key}”. `manage.py sso list` shows them.")
        self.stdout.write(
            f"Testing {config.description} ({config.key}) on {config.portal.host}: {config.issuer}"
        )
        report = sso_connection_test(config=config)
        for check in report.checks:
            self.stdout.write(f"  {check.symbol} {check.name}: {check.message}")
        if not report.passed:
            raise CommandError(report.summary)
        self.stdout.write(report.summary)
