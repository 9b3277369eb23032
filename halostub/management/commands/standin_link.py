"""``python -m halostub standin_link LABEL URL``: a custom link on the stand-in's portal page."""

from halostub import services

from ._base import SeedCommand


class Command(SeedCommand):
    help = "Create or update a custom link (e.g. Billing = the portal's SSO login URL)."

    def add_arguments(self, parser):
        parser.add_argument("label")
        parser.add_argument("url")

    def handle(self, *args, **options):
        def upsert(**kwargs):
            link = services.link_upsert(**kwargs)
            return {"label": link.label, "url": link.url}

        self.run(upsert, label=options["label"], url=options["url"])
