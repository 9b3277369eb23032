"""``manage.py rotate_secrets``: re-encrypt every stored credential with the newest key.

Why: rotating ``FIELD_ENCRYPTION_KEY`` is "put the new key first, run this, drop the old key".
Until this has run, rows still encrypted with an old key need that key in the list; afterwards
they need only the newest. Each model is rewritten in one transaction with its rows locked, so a
concurrent save is never overwritten with an older value. Prints one JSON object: per field, how
many values were re-encrypted. Never prints a value.
"""

import json

from django.core.management.base import CommandError
from django.db import transaction

from portal import crypto
from portal.fields import encrypted_fields
from portal.management.script_output import ScriptCommand


class Command(ScriptCommand):
    help = "Re-encrypt every EncryptedTextField value of every model with the newest FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        summary: dict[str, int] = {}
        try:
            for model, field in encrypted_fields():
                label = f"{model._meta.label}.{field.name}"
                summary[label] = _rotate_field(model, field)
        except crypto.DecryptionError as exc:
            raise CommandError(f"{label}: {exc}") from exc
        self.stdout.write(json.dumps({"rotated": summary}))


def _rotate_field(model, field) -> int:
    manager = model._base_manager
    count = 0
    with transaction.atomic():
        rows = (
            manager.select_for_update()
            .exclude(**{field.attname: ""})
            .exclude(**{f"{field.attname}__isnull": True})
            .values_list("pk", field.attname)
        )
        for pk, plaintext in rows.iterator(chunk_size=500):
            # update() runs get_prep_value: the newest key encrypts; no save() signals, no auto_now.
            manager.filter(pk=pk).update(**{field.attname: plaintext})
            count += 1
    return count
