"""Django settings for ``benchmarks/bench_requests.py``.

Both session engines are installed side by side: ``django.contrib.sessions`` (db backend,
for the stock stack) and ``byo_sessions``. The defaults below are the byo setup the README
gives projects (so ``manage.py check`` passes with nothing silenced); the benchmark builds
one WSGI handler per stack under its own ``SESSION_ENGINE`` and ``MIDDLEWARE``. Both
stacks use the same cookie, ``SESSION_COOKIE_NAME``.

The database comes from the environment, which ``bench_requests.py`` sets before
``django.setup()``:

* ``BYO_BENCH_POSTGRES=host:port`` (+ ``BYO_BENCH_PGNAME``, ``BYO_BENCH_PGUSER``), or
* ``BYO_BENCH_SQLITE=/path/to/file.sqlite3``.
"""

import os

SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789abcdef"
DEBUG = False  # no query log; CaptureQueriesContext forces it for the one probe request
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "byo_sessions",
    # The peers benchmarks/stacks.py measures (the ``bench`` extra installs them).
    "knox",
    "qsessions",
    "allauth",
    "allauth.account",
    "allauth.usersessions",
]

# allauth.usersessions writes each session's last activity (its peer to our tracking).
USERSESSIONS_TRACK_ACTIVITY = True
# cached_db keeps sessions in this process's memory (each gunicorn worker its own).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The byo stack; bench_requests.py overrides SESSION_ENGINE and MIDDLEWARE per handler.
SESSION_ENGINE = "byo_sessions.backends.db"
MIDDLEWARE = [
    "byo_sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "byo_sessions.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",  # allauth's check asks for it
]

TEMPLATES: list = []
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Both stacks: nothing written on a read-only request. The cookie name is one the
# exception reporter filter hides (byo_sessions' check W002 asks for that).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_NAME = "session_token"

# byo stack: no rotation and no last-activity write during the run, so every measured
# request takes the steady path (one SELECT).
BYO_SESSIONS = {
    "ROTATION_INTERVAL_SECS": None,
    "TOUCH_INTERVAL_SECS": 3600,
    # The stateless-JWT stack's token outlives a long run.
    "STATELESS_TOKEN_MAX_LIFETIME_SECS": 3600,
}

# Persistent connections for both stacks: a WSGI server sends request_started /
# request_finished around every request, and with CONN_MAX_AGE=0 each request would
# reconnect (a cost that has nothing to do with authentication).
_pg = os.environ.get("BYO_BENCH_POSTGRES")
_sqlite = os.environ.get("BYO_BENCH_SQLITE")
if _pg:
    _host, _, _port = _pg.partition(":")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BYO_BENCH_PGNAME", "byo_bench"),
            "USER": os.environ.get("BYO_BENCH_PGUSER", "postgres"),
            "HOST": _host,
            "PORT": _port or "5432",
            "CONN_MAX_AGE": None,
        }
    }
elif _sqlite:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _sqlite, "CONN_MAX_AGE": None}}
else:
    raise RuntimeError(
        "benchmarks.settings: set BYO_BENCH_POSTGRES or BYO_BENCH_SQLITE (bench_requests.py does this for you)"
    )
