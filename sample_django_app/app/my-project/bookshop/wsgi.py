"""The WSGI app gunicorn serves (gunicorn.conf.py puts my-project on sys.path)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "settings"  # my-project/settings.py, as in manage.py
application = get_wsgi_application()
