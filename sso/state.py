"""Pending sign-ins in the browser's session, keyed by ``state``.

mozilla-django-oidc keeps ``session["oidc_states"][state] = {code_verifier, nonce, added_on}``
and allows several at once (parallel tabs). We add what it lacks: which config the state belongs
to (mix-up defence: the callback takes the config from the state, and the URL's key must match),
the validated ``next``, the portal, and whether it is an admin's dry run. Entries are single use
(popped before anything else happens) and expire after ``SSO_STATE_MAX_AGE``.
"""

import time
from dataclasses import dataclass

from django.conf import settings

SESSION_KEY = "oidc_states"


@dataclass(frozen=True)
class PendingLogin:
    state: str
    config_key: str
    portal_id: int
    nonce: str
    code_verifier: str
    next_url: str
    added_on: float
    dry_run: bool = False

    @property
    def expired(self) -> bool:
        return time.time() - self.added_on > settings.SSO_STATE_MAX_AGE


def annotate_state(request, *, state: str, config, next_url: str, dry_run: bool = False) -> None:
    """Record on the library's state entry which config, portal and destination it is for."""
    entry = request.session[SESSION_KEY][state]
    entry.update(config_key=config.key, portal_id=config.portal_id, next=next_url, dry_run=dry_run)
    request.session.modified = True


def pop_state(request, state: str) -> PendingLogin | None:
    """Remove and return a pending login; None when this browser has no such state."""
    states = request.session.get(SESSION_KEY)
    if not isinstance(states, dict) or not isinstance(state, str) or state not in states:
        return None
    entry = states.pop(state)
    request.session.modified = True
    if not isinstance(entry, dict) or "config_key" not in entry:
        return None
    return PendingLogin(
        state=state,
        config_key=entry["config_key"],
        portal_id=entry.get("portal_id"),
        nonce=entry.get("nonce") or "",
        code_verifier=entry.get("code_verifier") or "",
        next_url=entry.get("next") or "",
        added_on=float(entry.get("added_on") or 0),
        dry_run=bool(entry.get("dry_run")),
    )
