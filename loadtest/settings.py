"""The production settings, for the loadtest's plain-http loopback servers (cookies not Secure)."""

from portal.settings import *  # noqa: F403

SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"  # __Host- cookies need https
CSRF_COOKIE_NAME = "csrftoken"
