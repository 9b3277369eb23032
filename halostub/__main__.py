"""``python -m halostub <command>``: Django's manage.py for the stand-in project."""

import os
import sys


def main() -> None:
    # Forced, not defaulted: a parent process (pytest, the demo) may have the portal's settings set.
    os.environ["DJANGO_SETTINGS_MODULE"] = "halostub.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m halostub", *sys.argv[1:]])


if __name__ == "__main__":
    main()
