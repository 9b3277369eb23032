"""``manage.py admin_unlock EMAIL``: lift the admin sign-in back-off of an email (the owner's tool)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.admin_signin import admin_unlock


class Command(BaseCommand):
    help = "Lift the admin password sign-in lockout of EMAIL on every portal and network (audited)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email: str, **options):
        address = email.strip().lower()
        if "@" not in address or len(address) > 254:
            raise CommandError(f"{email!r} is not an email address.")
        admin_unlock(email=address)
        self.stdout.write(f"Admin sign-in for {address} is unlocked.")
