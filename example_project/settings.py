"""Settings for the byo-sessions demo site (SQLite, DEBUG on, e-mails and audit lines in files)."""

from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "demo-only-secret-key-change-me-0123456789abcdefghijklmnop"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "byo_sessions",
    "example_project.demo",
]

# Django's stock middleware list, with byo_sessions' two middlewares in place of
# Django's SessionMiddleware and AuthenticationMiddleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "byo_sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "byo_sessions.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
SESSION_ENGINE = "byo_sessions.backends.db"

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/account/"
# E-mails (the "new device" notice) are written to files in demo-mail/ (one file per server
# process), away from runserver's request log in the terminal.
MAIL_DIR = BASE_DIR / "demo-mail"
if django.VERSION >= (6, 1):
    MAILERS = {
        "default": {"BACKEND": "django.core.mail.backends.filebased.EmailBackend", "OPTIONS": {"file_path": MAIL_DIR}}
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = MAIL_DIR

BYO_SESSIONS = {
    # Role tags for every login (the admin's login form too) and the "new device" email.
    "ADAPTER": "example_project.demo.adapter.DemoAdapter",
    "ABSOLUTE_LIFETIME_SECS": 12 * 3600,
    "INACTIVITY_TIMEOUT_SECS": 2 * 3600,
    "ROTATION_INTERVAL_SECS": 300,
    # Ending the other sessions and changing the password need the password (or this
    # browser's device key) within the last 15 minutes, asked on the demo's own page.
    "REAUTH_MAX_AGE_SECS": 900,
    "REAUTH_URL": "reauthenticate",
    # The session server at /byo-server/ (docs/server.md) accepts only keys whose SHA-256
    # digest is listed here. Make one with `python manage.py byo_integration_key` and paste
    # the digest. This demo digest is of the demo-only key
    # "byo_ik_demo-only-integration-key-change-me"; never ship it.
    "SERVER_INTEGRATION_KEYS": ["700ea8d57f8012d7e53a15e7196a686636dcfc83921cdfdbf8a3062a74592a91"],
    # Stateless tokens die with their session (docs/stateless-tokens.md, "Revocation"): ended
    # sessions are recorded in the default cache, Django's local-memory one, which is enough for
    # the demo's single process; a site with several processes names a shared cache (Redis).
    "STATELESS_REVOCATION_CACHE": "default",
    "STATELESS_REVOCATION_CHECK": True,
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The audit trail (one JSON line per event) and byo_sessions' own messages go to demo.log
# with a time and the logger's name, not into runserver's output: `tail -f example_project/demo.log`.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"demo": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "demo_log": {
            "class": "logging.FileHandler",
            "filename": BASE_DIR / "demo.log",
            "formatter": "demo",
            "delay": True,
        }
    },
    "loggers": {
        "byo_sessions": {"handlers": ["demo_log"], "level": "INFO", "propagate": False},
    },
}
