"""``EncryptedTextField``: a model field whose database column holds only a Fernet token.

Python code reads and writes plaintext ``str``; ``portal.crypto`` encrypts on the way to the
database and decrypts on the way back. An empty value is stored as an empty string (a blank
credential is not a secret, and ``filter(field="")`` keeps working). Any other lookup on the field
is meaningless (each encryption of the same text differs), so the field is never used to search.

Every model field of this class is re-encrypted with the newest key by ``manage.py rotate_secrets``.
"""

from __future__ import annotations

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    description = "Text encrypted at rest with FIELD_ENCRYPTION_KEY"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every (concrete model, field) pair holding an ``EncryptedTextField``, across installed apps."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found
