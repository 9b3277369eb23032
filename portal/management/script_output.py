"""Management commands whose stdout scripts parse (``CONTRACT.md``: "prints ONE JSON object").

In production the portal logs JSON lines to stdout; a command that logs while it works (every
outbound call logs a line, so does a sync) would mix those lines into the object a script reads.
``ScriptCommand`` moves the root logger's stdout handlers to stderr for the command's duration, so
stdout holds what the command writes and nothing else, and the log lines are still there to read.
"""

import contextlib
import logging
import sys

from django.core.management.base import BaseCommand


@contextlib.contextmanager
def logs_to_stderr():
    """Point the root logger's stream handlers at stderr for the command's duration."""
    moved = []
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream is not sys.stderr:
            moved.append((handler, handler.setStream(sys.stderr)))
    try:
        yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


class ScriptCommand(BaseCommand):
    def execute(self, *args, **options):
        with logs_to_stderr():
            return super().execute(*args, **options)
