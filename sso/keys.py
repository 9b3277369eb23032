"""Public config keys like ``x7k2p9-halopsa-m3n8q1``: random, unique, never reused.

The key appears in URLs registered at the provider, so it must not be guessable from the portal
and must never come back for another config (an old redirect URL at HaloPSA must not start
working for a new config). Keys of deleted configs live on in the event log, which we check.
"""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def _chunk(length: int = 6) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_config_key(provider: str) -> str:
    from .models import SSOConfig, SSOEvent

    for _ in range(20):
        key = f"{_chunk()}-{provider}-{_chunk()}"
        if (
            not SSOConfig.objects.filter(key=key).exists()
            and not SSOEvent.objects.filter(config_key=key).exists()
        ):
            return key
    raise RuntimeError("Could not find an unused SSO key.")  # 36**12 keys: unreachable in practice
