"""Helpers for reading what the accounts mails contain."""

import re

CODE_RE = re.compile(r"\b(\d{6})\b")
LINK_RE = re.compile(r"(http://[^\s]+/accounts/verify/([A-Za-z0-9_-]+)/)")


def code_from(message) -> str:
    match = CODE_RE.search(message.body)
    assert match, message.body
    return match.group(1)


def link_from(message) -> tuple[str, str]:
    """(absolute link, token) from a verification mail's text part."""
    match = LINK_RE.search(message.body)
    assert match, message.body
    return match.group(1), match.group(2)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]
