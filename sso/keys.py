"""Public config keys like ``x7k2p9-halopsa-m3n8q1``: random, unique, never reused.

The key appears in URLs registered at the provider, so it must not be guessable from the portal
and must never come back for another config (an old redirect URL at HaloPSA must not start
working for a new config). Every key handed out is recorded in ``IssuedKey``, which has no
foreign keys and is never cleaned up; keys of deleted configs also live on in the event log.
"""

import secrets
import string

from django.db import IntegrityError, transaction

_ALPHABET = string.ascii_lowercase + string.digits
KEY_PATTERN = r"^[a-z0-9]{6}-[a-z0-9]+-[a-z0-9]{6}$"


def _chunk(length: int = 6) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def key_was_issued(key: str) -> bool:
    """True when ``key`` was ever given to a config, even one deleted since."""
    from .models import IssuedKey, SSOConfig, SSOEvent

    return (
        IssuedKey.objects.filter(key=key).exists()
        or SSOConfig.objects.filter(key=key).exists()
        or SSOEvent.objects.filter(config_key=key).exists()
    )


def new_config_key(provider: str) -> str:
    """A fresh key, reserved for good in ``IssuedKey`` before it is returned.

    The reservation is an insert under a unique constraint inside a savepoint, so two processes
    racing for the same (astronomically unlikely) key cannot both get it. A key reserved for a
    config whose save then fails is simply never used: burning one is harmless.
    """
    from .models import IssuedKey

    for _ in range(20):
        key = f"{_chunk()}-{provider}-{_chunk()}"
        if key_was_issued(key):
            continue
        try:
            with transaction.atomic():
                IssuedKey.objects.create(key=key)
        except IntegrityError:
            continue
        return key
    raise RuntimeError("Could not find an unused SSO key.")  # 36**12 keys: unreachable in practice
