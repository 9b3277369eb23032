"""How the entry points (``manage.py``, ``portal.wsgi`` for gunicorn) refuse to start on a settings problem.

Why: a missing ``SECRET_KEY`` or ``FIELD_ENCRYPTION_KEY`` is an operator's mistake, not a bug. Django's
traceback hid the one line that says which variable to set under forty lines of import machinery.
Only ``ImproperlyConfigured`` is shortened (every message raised for it says what to set); any other
error keeps its traceback. ``manage.py … --traceback`` shows it anyway.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured


@contextmanager
def refuse_to_start_when_misconfigured(*, exit_status: int = 1) -> Iterator[None]:
    """Print each line of the problem as ``Error: …`` on stderr and exit with ``exit_status``."""
    try:
        yield
    except ImproperlyConfigured as exc:
        if "--traceback" in sys.argv:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"Error: {line}", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(exit_status) from None
