"""``python -m halostub standin_client CLIENT_ID --redirect-uri URL [--post-logout-redirect-uri URL]
[--client-secret S]``: create or update a client application (public without a secret)."""

from halostub import services

from ._base import SeedCommand


class Command(SeedCommand):
    help = "Create or update an authorization-code client (RS256, PKCE, no consent screen)."

    def add_arguments(self, parser):
        parser.add_argument("client_id")
        parser.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
        parser.add_argument(
            "--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris"
        )
        parser.add_argument("--client-secret", default=None, help="Omit for a public (PKCE-only) client.")
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        def upsert(**kwargs):
            app = services.client_upsert(**kwargs)
            return {"client_id": app.client_id, "client_type": app.client_type}

        self.run(
            upsert,
            client_id=options["client_id"],
            redirect_uris=options["redirect_uris"],
            post_logout_redirect_uris=options["post_logout_redirect_uris"],
            client_secret=options["client_secret"],
            name=options["name"],
        )
