"""``manage.py portal create | add-contact | add-invoice | add-staff``: set up tenants, their customer data
and their staff.

The command names and options are part of the outside contract (``CONTRACT.md``); scripts use them.
Every mistake (unknown host, bad URL, duplicate, bad amount or date) is a ``CommandError`` with
one clear line, never a traceback.
"""

import datetime
import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from portal import permissions, services
from portal.management.script_output import ScriptCommand
from portal.models import Invoice


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01.") from None


# Model field names as the person typed them on the command line.
OPTION_NAMES = {
    "url": "--url",
    "name": "--name",
    "customer": "--customer",
    "email": "--email",
    "number": "--number",
    "total": "--total",
    "balance": "--total",
    "currency": "--currency",
    "issued_on": "--issued",
    "due_on": "--due",
    "status": "--status",
}


def _as_options(error: ValidationError) -> ValidationError:
    """The same errors, keyed by command-line option (``--due``) rather than field (``due_on``)."""
    if not hasattr(error, "error_dict"):
        return error
    renamed: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        renamed.setdefault(OPTION_NAMES.get(field, field), []).extend(messages)
    return ValidationError(renamed)


class Command(ScriptCommand):
    help = "Create portals and add customers' contacts and invoices."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        create = actions.add_parser(
            "create",
            help="Create a portal answering on the URL's host name.",
            description="Create a portal. The URL's host name selects it; the port is ignored.",
        )
        create.add_argument("--url", required=True, help="e.g. https://billing.acme-msp.com")
        create.add_argument("--name", required=True, help="Display name, e.g. 'Acme Managed IT'.")
        create.add_argument(
            "--sso-only", action="store_true", help="Hide the email-code login (SSO buttons/links only)."
        )

        contact = actions.add_parser(
            "add-contact",
            help="Add a contact email to a customer (created if needed).",
            description="A person who proves they own this email sees the customer's invoices.",
        )
        contact.add_argument("--host", required=True, help="The portal's host name, e.g. acme.localhost.")
        contact.add_argument("--customer", required=True, help="Customer name, e.g. 'Acme Ltd'.")
        contact.add_argument("--email", required=True)
        contact.add_argument("--name", default="", help="The contact's name (optional).")

        invoice = actions.add_parser(
            "add-invoice",
            help="Add an invoice to a customer (created if needed).",
            description="The balance equals the total unless the status is paid or void.",
        )
        invoice.add_argument("--host", required=True, help="The portal's host name, e.g. acme.localhost.")
        invoice.add_argument("--customer", required=True, help="Customer name, e.g. 'Acme Ltd'.")
        invoice.add_argument("--number", required=True, help="Invoice number, e.g. INV-1001.")
        invoice.add_argument("--total", required=True, help="Amount with up to two decimals, e.g. 120.00.")
        invoice.add_argument("--currency", default="USD", help="ISO 4217 code (default USD).")
        invoice.add_argument(
            "--issued", type=str, default=None, help="Issue date YYYY-MM-DD (default today)."
        )
        invoice.add_argument(
            "--due", type=str, default=None, help="Due date YYYY-MM-DD (default 30 days after issue)."
        )
        invoice.add_argument(
            "--status",
            default=Invoice.Status.OPEN,
            choices=Invoice.Status.values,
            help="open (default), paid, overdue or void.",
        )

        staff = actions.add_parser(
            "add-staff",
            help="Create or update a staff user of a portal (admin access to that portal only).",
            description="The user joins the 'Portal administrators' group and sees only this portal in the "
            "admin. Without --password: asked for on a terminal, otherwise a random one is printed once; "
            "an existing user's password is kept.",
        )
        staff.add_argument("--host", required=True, help="The portal's host name, e.g. acme.localhost.")
        staff.add_argument("--email", required=True)
        staff.add_argument(
            "--password", default=None, help="The password (avoid: it stays in shell history)."
        )
        staff.add_argument("--name", default="", help="The person's name (optional).")

    def handle(self, *args, **options):
        handler = {
            "create": self._create,
            "add-contact": self._add_contact,
            "add-invoice": self._add_invoice,
            "add-staff": self._add_staff,
        }[options["action"]]
        try:
            handler(options)
        except ValidationError as exc:
            raise CommandError(services.validation_message(_as_options(exc))) from None

    def _create(self, options):
        portal = services.portal_create(
            url=options["url"], name=options["name"], sso_only=options["sso_only"]
        )
        mode = " (SSO only)" if portal.sso_only else ""
        self.stdout.write(f"Created portal {portal.name!r}{mode} on {portal.host}: {portal.base_url}/")

    def _add_contact(self, options):
        portal = services.portal_by_host(host=options["host"])
        contact = services.contact_add(
            portal=portal, customer_name=options["customer"], email=options["email"], name=options["name"]
        )
        self.stdout.write(f"Added contact {contact.email} to {contact.customer.name!r} on {portal.host}.")

    def _add_invoice(self, options):
        issued = _date(options["issued"]) if options["issued"] else None
        due = _date(options["due"]) if options["due"] else None
        portal = services.portal_by_host(host=options["host"])
        invoice = services.invoice_add(
            portal=portal,
            customer_name=options["customer"],
            number=options["number"],
            total=options["total"],
            currency=options["currency"],
            issued=issued,
            due=due,
            status=options["status"],
        )
        self.stdout.write(
            f"Added invoice {invoice.number} ({invoice.currency} {invoice.total}, {invoice.status}, "
            f"balance {invoice.balance}) to {invoice.customer.name!r} on {portal.host}."
        )

    def _add_staff(self, options):
        from accounts.models import User

        portal = services.portal_by_host(host=options["host"])
        email = (options["email"] or "").strip().lower()
        existing = User.objects.filter(portal=portal, email__iexact=email).first()
        password = options["password"]
        generated = False
        if password is None and (existing is None or not existing.has_usable_password()):
            if sys.stdin.isatty():
                password = self._prompt_password()
            else:
                password = permissions.staff_password_generate()
                generated = True
        if password is not None and not generated:
            candidate = existing or User(portal=portal, email=email, name=options["name"])
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                raise CommandError("--password: " + " ".join(exc.messages)) from None
        user, created = permissions.portal_staff_user_ensure(
            portal=portal, email=email, password=password, name=options["name"]
        )
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} staff user {user.email} of {portal.host} in the {permissions.PORTAL_ADMINS_GROUP!r} group; "
            f"admin: {portal.absolute_url('/admin/')}"
        )
        if generated:
            self.stdout.write(f"Password (shown once): {password}")
        elif password is None:
            self.stdout.write("Password unchanged.")

    def _prompt_password(self) -> str:
        for _ in range(3):
            first = getpass.getpass("Password: ")
            if first and first == getpass.getpass("Password (again): "):
                return first
            self.stderr.write("The passwords were empty or did not match; try again.")
        raise CommandError("No password given.")
