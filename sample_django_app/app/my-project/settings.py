"""This deployment's settings: the shared defaults plus its secrets.

In Kubernetes this whole file is replaced by a Secret mounted at
/var/www/django/my-project/settings.py (the seed's Job and Deployment); the Secret's file
has the same shape with literal values. This committed one reads them from the
environment, so the image also runs on its own (docker run, tests).
"""

import os

from bookshop.defaults import *  # noqa: F403  (everything a deployment does not choose)

# Only for local runs: Django's own `check --deploy` flags any key starting "django-insecure".
SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-local-development-only")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("POSTGRES_HOST", "localhost"),
        "PORT": os.environ.get("POSTGRES_PORT", "5432"),
        "NAME": os.environ.get("POSTGRES_DB", "bookshop"),
        "USER": os.environ.get("POSTGRES_USER", "bookshop"),
        "PASSWORD": os.environ.get("POSTGRES_PASSWORD", ""),
        "OPTIONS": {"connect_timeout": 5},
    }
}
