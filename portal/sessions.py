"""Django's ``cached_db`` session store, made to keep working from the database while the cache is down.

Stock ``cached_db`` already tolerates a failing ``get`` and ``set`` on save, but not the cache
write after a database read, ``exists`` (new session keys) or ``delete`` (sign-out): with Redis
down those raise and every signed-in page would be a 500. Here each of them degrades to the
database alone. Use it with ``SESSION_ENGINE = "portal.sessions"`` when sessions go to the cache.

Known limit: a sign-out while the cache is down deletes the database row but cannot delete the
cached copy. If Redis comes back with its data (persistence on), that copy would be served until it
expires (``SESSION_COOKIE_AGE``). Such deletes are logged at ERROR; after an outage of a persistent
Redis, flush the cache database that holds sessions (the README's production notes say so).
"""

import logging

from django.contrib.sessions.backends import cached_db

from .safe_cache import CACHE_ERRORS, note_cache_failure

logger = logging.getLogger("portal.sessions")


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except CACHE_ERRORS as exc:
            note_cache_failure(exc, operation="session_load")
            return self._load_from_db(cache_it=False)
        if data is None:
            return self._load_from_db(cache_it=True)
        return data

    def _load_from_db(self, *, cache_it: bool):
        row = self._get_session_from_db()
        if not row:
            return {}
        data = self.decode(row.session_data)
        if cache_it:
            try:
                self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=row.expire_date))
            except CACHE_ERRORS as exc:
                note_cache_failure(exc, operation="session_cache_fill")
        return data

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except CACHE_ERRORS as exc:
            note_cache_failure(exc, operation="session_exists")
            return cached_db.DBStore.exists(self, session_key)

    def delete(self, session_key=None):
        try:
            super().delete(session_key)
        except CACHE_ERRORS as exc:
            # The row is gone (DBStore.delete ran first); the cached copy is not (see the docstring).
            note_cache_failure(exc, operation="session_delete")
            logger.error("session deleted while the cache was down; its cached copy may remain")
