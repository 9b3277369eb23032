"""System checks that stop a misconfigured portal from starting (``manage.py check``, runserver, gunicorn).

Why: a setting that is wrong in production is better refused at start than discovered when the
first credential cannot be decrypted.
"""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from . import crypto


@register()
def field_encryption_key_check(app_configs, **kwargs):
    try:
        crypto.validate_keys()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="portal.E001")]
    return []
