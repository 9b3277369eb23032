"""One spelling per email address, for every app that stores or matches one.

Contacts come from the admin, the command line and HaloPSA's sync; users from the sign-ins. If one of
them kept ``anna@xn--bcher-kva.example`` and another ``anna@bücher.example``, the same mailbox would
stop matching itself (no code mail, no invoices), so they all store and compare this form.
"""

import contextlib


def normalize_email(email: str | None) -> str:
    """Trimmed, lower case, and an internationalised domain in Unicode.

    A browser may send ``anna@xn--bcher-kva.example`` for what HaloPSA calls ``anna@bücher.example``;
    both are the same mailbox. A domain that is not valid punycode is kept as typed (the validators
    refuse it, or it stays that spelling everywhere).
    """
    address = (email or "").strip().lower()
    local, at, domain = address.rpartition("@")
    if at and "xn--" in domain:
        with contextlib.suppress(UnicodeError):
            address = f"{local}@{domain.encode('ascii').decode('idna')}"
    return address
