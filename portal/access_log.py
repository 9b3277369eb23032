"""gunicorn's access log without secrets.

A default access line holds the full request URI: the authorization ``code`` and ``state`` of
``/callback?...``, and the one-time token in ``/accounts/verify/<token>/``. Anyone who can read
the logs could use an unused verification link, so the request line, path, query string and
referrer are all redacted before they are written.
"""

import re

from gunicorn.glogging import Logger

_VERIFY_TOKEN = re.compile(r"(/accounts/verify/)[^/?\s]+")
_SECRET_PARAMS = re.compile(
    r"((?:^|[?&])(?:code|state|id_token_hint|token|session_state)=)[^&\s]*", re.IGNORECASE
)


def redact(text: str) -> str:
    if not text or text == "-":
        return text
    return _SECRET_PARAMS.sub(r"\1…", _VERIFY_TOKEN.sub(r"\1…", text))


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
