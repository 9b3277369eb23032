from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portals and billing"

    def ready(self):
        # The "Portal administrators" group, ensured after every migrate (see portal.permissions).
        from . import checks  # noqa: F401  (registers the system checks)
        from .invoice_figures import connect_signals
        from .permissions import ensure_portal_admin_group

        connect_signals()  # cached dashboard figures are dropped when an invoice changes

        post_migrate.connect(ensure_portal_admin_group, sender=self, dispatch_uid="portal_admin_group")
