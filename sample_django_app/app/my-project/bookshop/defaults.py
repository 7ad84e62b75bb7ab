"""Settings every deployment shares; settings.py adds the secrets and the database.

Kept apart so the Secret that replaces settings.py in Kubernetes only holds what differs
per deployment, and a release that adds an app or a URL does not need a new Secret.
"""

import os

DEBUG = False
# Kubernetes probes and Services reach pods by IP; the Ingress in front checks host names.
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = ["bookshop"]
ROOT_URLCONF = "bookshop.urls"
WSGI_APPLICATION = "bookshop.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
USE_TZ = True
TIME_ZONE = "UTC"

# With DEBUG off Django only mails errors; print them instead, so `kubectl logs` shows them.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
