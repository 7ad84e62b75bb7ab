"""gunicorn's settings, read from the working directory (/var/www/django) at start.

Flags and GUNICORN_CMD_ARGS override these, e.g. `--bind 127.0.0.1:9000`.
"""

from pathlib import Path

# Where `settings` and the `bookshop` package are importable from (see manage.py).
pythonpath = str(Path(__file__).resolve().parent / "my-project")
wsgi_app = "bookshop.wsgi"
bind = "0.0.0.0:8000"
workers = 2
accesslog = "-"
# gunicornc's control socket: one process per container needs no remote control, and
# $HOME (/var/www/django) is not writable by the app user.
control_socket_disable = True
