"""Encryption of stored credentials (client secrets, HaloPSA API secrets, payment keys).

Why: a database dump, a backup or a read-only SQL injection must not hand out the credentials the
portal holds for its customers' providers. The key lives outside the database, in
``FIELD_ENCRYPTION_KEY`` (one or more Fernet keys, newest first). Encrypting always uses the newest
key; decrypting tries each key in turn, so an operator rotates by putting a new key in front, running
``manage.py rotate_secrets``, then dropping the old key.

Error messages never carry the plaintext or the token.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key (key removed or data damaged)."""


def _keys() -> tuple[str, ...]:
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = keys.split(",")
    keys = tuple(k.strip() for k in keys if k and k.strip())
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty: set one or more Fernet keys.")
    return keys


@functools.lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe base64-encoded "
            "bytes; make one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        ) from exc


def fernet() -> MultiFernet:
    """The MultiFernet for the current keys (cached per key list, so test overrides take effect)."""
    return _multifernet(_keys())


def encrypt(plaintext: str) -> str:
    """A Fernet token (ASCII text) for ``plaintext``, made with the newest key."""
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of a token made by ``encrypt`` with any configured key."""
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            "A stored credential cannot be decrypted with FIELD_ENCRYPTION_KEY: was the key that "
            "encrypted it removed from the list? Put it back (after the newest key) and run "
            "`manage.py rotate_secrets`."
        ) from exc


def validate_keys() -> None:
    """Raise ``ImproperlyConfigured`` unless every configured key is a usable Fernet key."""
    fernet()
