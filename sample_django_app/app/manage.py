#!/usr/bin/env python3
"""Django's command line for the bookshop, run from /var/www/django (the image's WORKDIR).

The project lives in `my-project/`, which is not a valid Python package name, so the
directory itself goes on sys.path and its `settings.py` is the settings module: the file
the Job mounts from a Secret at /var/www/django/my-project/settings.py is THE settings.
"""

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent / "my-project"

if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_DIR))
    # Forced, not setdefault: a stray DJANGO_SETTINGS_MODULE must not bypass the mounted file.
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
