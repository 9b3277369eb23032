"""TEMPORARY shim (payments branch): ``EncryptedTextField`` until the secrets engineer's
``portal/fields.py`` and ``portal/crypto.py`` land on main and replace this file whole.

The database holds a Fernet token keyed from ``FIELD_ENCRYPTION_KEY`` (or, in this shim only,
derived from ``SECRET_KEY``); Python sees plaintext. Blank stays blank.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


def _fernet() -> Fernet:
    configured = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or ""
    first = configured.split(",")[0].strip() if configured else ""
    if first:
        return Fernet(first.encode())
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    return _fernet().decrypt(value.encode()).decode()


class EncryptedTextField(models.TextField):
    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value)
        except InvalidToken:
            return ""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
