"""System checks of the accounts app (run by ``manage.py check --deploy``)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_admin_hosts(app_configs, **kwargs):
    """Without ADMIN_HOSTS a superuser's password works on every portal's public host name."""
    if settings.ADMIN_HOSTS:
        return []
    return [
        Warning(
            "ADMIN_HOSTS is not set: superusers can sign in to the admin on every portal's host.",
            hint="Set ADMIN_HOSTS to the host name(s) operators use for the admin, e.g. admin.example.com.",
            id="accounts.W001",
        )
    ]
