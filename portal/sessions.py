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
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import router, transaction
from django.utils.crypto import get_random_string

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
        """The row (one ``DELETE``: Django's reads the row first), then the cached copy."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=session_key).delete()
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except CACHE_ERRORS as exc:
            # The row is gone; the cached copy is not (see the docstring).
            note_cache_failure(exc, operation="session_delete")
            logger.error("session deleted while the cache was down; its cached copy may remain")

    def cycle_key(self):
        """A new key at sign-in (session fixation), with the row written once.

        Django's ``cycle_key`` inserts the data under the new key at once, and the save at the end of
        the request (there always is one: the sign-in changes the session) then updates that same row.
        Here the new key is only chosen, and that save inserts the row: one write instead of two, and
        none inside the sign-in's transaction. The old row is deleted at once, as in Django.

        The new key is not looked up first (Django's ``exists``: a cache and a database round trip
        per sign-in): it is 32 random characters (about 165 bits), and the save inserts it with
        ``must_create``, so the row's primary key refuses a duplicate rather than overwriting
        anyone's session.
        """
        data = self._session
        old_key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self._insert_on_save = True
        self.modified = True
        if old_key:
            self.delete(old_key)

    def save(self, must_create=False):
        written, self._written = getattr(self, "_written", None), None
        if written is not None and written == (self.session_key, self._snapshot()):
            return  # written in the sign-in's transaction (save_in_transaction), unchanged since
        if getattr(self, "_insert_on_save", False):
            must_create, self._insert_on_save = True, False
        super().save(must_create)

    def save_in_transaction(self) -> None:
        """Insert a signed-in session's new row now, in the caller's transaction; cache it on commit.

        Why: the SSO sign-in's identity update, audit row, ``last_login`` and event row commit
        together; the session row joining them spares a sign-in its own BEGIN/COMMIT (and the disk
        flush of a commit), and a sign-in that rolls back leaves no session behind, in the database
        or in Redis (the cached copy is written only once the transaction has committed). The row is
        inserted without Django's savepoint: its key was drawn fresh by ``cycle_key`` (about 165
        random bits), so a duplicate key only fails that one sign-in, rolled back like any other
        error. The response's own save (SessionMiddleware) then finds nothing changed and writes
        nothing; anything changed after this is saved there as usual.

        Only after ``cycle_key`` (a sign-in); otherwise it does nothing and the response saves.
        """
        if not getattr(self, "_insert_on_save", False) or self.session_key is None:
            return
        data = self._get_session(no_load=True)
        row = self.create_model_instance(data)
        row.save(force_insert=True, using=router.db_for_write(self.model, instance=row))
        self._insert_on_save = False
        self._written = (self.session_key, self._snapshot())
        key, age = self.cache_key, self.get_expiry_age()
        transaction.on_commit(lambda: self._cache_fill(key, data, age))

    def _snapshot(self) -> bytes:
        return self.serializer().dumps(self._get_session(no_load=True))

    def _cache_fill(self, key: str, data: dict, age: int) -> None:
        try:
            self._cache.set(key, data, age)
        except CACHE_ERRORS as exc:  # read from the database until the cache is back
            note_cache_failure(exc, operation="session_cache_fill")


def session_save_in_transaction(session) -> None:
    """``SessionStore.save_in_transaction`` for this store; other engines save with the response."""
    if isinstance(session, SessionStore):
        session.save_in_transaction()
