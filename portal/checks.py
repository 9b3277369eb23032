"""System checks that stop a misconfigured portal from starting (``manage.py check``, migrate,
runserver, and gunicorn through ``portal.wsgi``).

Why: production must fail closed. With ``DEBUG`` off, console mail (login codes printed to
stdout), a per-process memory cache (rate limits that each worker counts alone) or inline tasks
(mail sent inside the request) start silently and look like they work. They are errors unless
``ALLOW_INSECURE_DEFAULTS=true`` (automated checks on one machine). A wrong encryption key is an
error in every mode: better at start than when the first credential cannot be decrypted.
"""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from . import crypto

INSECURE_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "portal.devmail.DevMailboxBackend",
}
INSECURE_CACHE_BACKENDS = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}
ALLOW_HINT = "Set ALLOW_INSECURE_DEFAULTS=true only for automated checks on one machine."


@register()
def field_encryption_key_check(app_configs, **kwargs):
    try:
        crypto.validate_keys()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="portal.E001")]
    return []


@register()
def production_defaults_check(app_configs, **kwargs):
    if settings.DEBUG or settings.ALLOW_INSECURE_DEFAULTS:
        return []
    errors = []
    if settings.EMAIL_BACKEND in INSECURE_MAIL_BACKENDS:
        errors.append(
            Error(
                f"With DEBUG off, mail must really be sent, not kept by {settings.EMAIL_BACKEND} (login "
                "codes would be printed to the log or lost).",
                hint="Set EMAIL_URL=smtp+tls://user:password@host:587. " + ALLOW_HINT,
                id="portal.E002",
            )
        )
    if settings.CACHES["default"]["BACKEND"] in INSECURE_CACHE_BACKENDS:
        errors.append(
            Error(
                "With DEBUG off, the cache must be shared by every process (rate limits, lockouts and "
                "provider back-offs are counted there); a local-memory cache counts per worker.",
                hint="Set CACHE_URL=redis://host:6379/1. " + ALLOW_HINT,
                id="portal.E003",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("memory://") or settings.CELERY_TASK_ALWAYS_EAGER:
        errors.append(
            Error(
                "With DEBUG off, tasks need a broker: inline tasks send mail and call HaloPSA inside "
                "the web request, and nothing retries them.",
                hint="Set CELERY_BROKER_URL=redis://host:6379/0 (and leave CELERY_TASK_ALWAYS_EAGER off). "
                + ALLOW_HINT,
                id="portal.E004",
            )
        )
    return errors


def raise_on_errors() -> None:
    """Refuse to serve with the errors above: gunicorn does not run system checks by itself."""
    errors = field_encryption_key_check(None) + production_defaults_check(None)
    if errors:
        raise ImproperlyConfigured("\n".join(f"{e.id}: {e.msg} {e.hint or ''}".strip() for e in errors))
