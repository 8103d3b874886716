"""The example project's settings, on a throwaway SQLite file, for tests/test_asgi.py's server."""

import os

from example_project.settings import *  # noqa: F401,F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BYO_ASGI_DB"]}}
LOGGING = {"version": 1, "disable_existing_loggers": False}  # audit lines stay out of the server's output
