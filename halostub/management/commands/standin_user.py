"""``python -m halostub standin_user EMAIL --password P [--name N]``: create or update a user."""

from halostub import services

from ._base import SeedCommand


class Command(SeedCommand):
    help = "Create or update a stand-in user who signs in with email and password."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        def upsert(**kwargs):
            user = services.user_upsert(**kwargs)
            return {"sub": str(user.pk), "email": user.email}

        self.run(upsert, email=options["email"], password=options["password"], name=options["name"])
