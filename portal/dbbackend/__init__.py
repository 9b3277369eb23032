"""Django's PostgreSQL backend, reconnecting patiently (see ``base``)."""
