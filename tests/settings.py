"""Settings for the test suite.

The same suite runs on SQLite (default) and on PostgreSQL when ``BYO_TEST_POSTGRES``
holds a libpq-style DSN pieces (``host:port``), as ``scripts/test.sh`` sets it.
"""
import os

SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "byo_sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "byo_sessions.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = "byo_sessions.backends.db"
SESSION_COOKIE_NAME = "session_token"  # hidden by Django's error-report filter (check W002)

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

STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_pg = os.environ.get("BYO_TEST_POSTGRES")  # "host:port"
if _pg:
    _host, _, _port = _pg.partition(":")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "byo_test",
            "USER": "postgres",
            "HOST": _host,
            "PORT": _port or "5432",
            "CONN_MAX_AGE": 0,
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

BYO_SESSIONS: dict = {}

LOGIN_URL = "/admin/login/"

# Django 6.1 names mail backends in MAILERS (the test runner swaps each for locmem).
import django  # noqa: E402

if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
