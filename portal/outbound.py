"""TEMPORARY shim (payments branch): the guarded outbound door's interface, until the outbound
engineer's ``portal/outbound.py`` lands on main and replaces this file whole.

Only what payments uses: ``guarded_session()`` for the Stripe SDK and ``OutboundError``. It applies
no address policy beyond refusing redirects and environment proxies; the real module does.
"""

from __future__ import annotations

import requests


class OutboundError(Exception):
    def __init__(self, reason: str, message: str, status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


def guarded_session(**_kwargs) -> requests.Session:
    """A session that ignores proxy settings from the environment and never follows redirects."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    return session
