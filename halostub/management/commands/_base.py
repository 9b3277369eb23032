"""Shared by the stand-in's seeding commands: a validation error is a clean CommandError."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class SeedCommand(BaseCommand):
    def run(self, fn, **kwargs) -> None:
        try:
            result = fn(**kwargs)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(json.dumps(result))
