"""Structured logging: one JSON object per line on stdout, friendly to any log shipper."""

import json
import logging
import re
from datetime import UTC, datetime

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

_VERIFY_TOKEN = re.compile(r"(/accounts/verify/)[^/?\s\"']+")
_SECRET_PARAMS = re.compile(
    r"((?:^|[?&\s])(?:code|state|id_token_hint|token|session_state)=)[^&\s\"']*", re.IGNORECASE
)


def redact(text: str) -> str:
    """Remove one-time secrets that URLs carry: authorization codes, states, ID-token hints, and
    the token of a verification link. Django logs request paths on 4xx/5xx, and an unused
    verification link in a log file would let its reader sign in."""
    if not text or text == "-":
        return text
    return _SECRET_PARAMS.sub(r"\1…", _VERIFY_TOKEN.sub(r"\1…", text))


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its ``extra=`` fields, secrets in URLs redacted.

    Our own callers never pass secrets or tokens; Django's request logger does pass paths."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))
