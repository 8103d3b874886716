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
    # tests/compat_allauth: third-party auth apps on our session engine, with their real code
    "allauth",
    "allauth.account",
    "django.contrib.humanize",  # allauth.usersessions' list template loads it
    "dj_rest_auth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "byo_sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "byo_sessions.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",  # no query: a request context for allauth
    "allauth.usersessions.middleware.UserSessionsMiddleware",  # a no-op unless USERSESSIONS_TRACK_ACTIVITY
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

# The self-service REST API's OpenAPI schema (tests/drf/test_api_schema.py).
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {"TITLE": "byo-sessions self-service API", "VERSION": "1", "SERVE_INCLUDE_SCHEMA": False}

# allauth and dj-rest-auth (tests/compat_allauth). AUTHENTICATION_BACKENDS stays Django's
# single ModelBackend: with two, auth.login() and byo_sessions.login() need a backend named
# (Django's rule), which tests/urls.py's login view does not pass; tests/compat_allauth adds
# allauth's backend through the settings fixture.
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True  # a pending login in a visitor's session (URLs only if set at import)
ACCOUNT_RATE_LIMITS = False
REST_AUTH = {"SESSION_LOGIN": True, "TOKEN_MODEL": None, "USE_JWT": False}
if not _pg:
    # allauth.usersessions keeps request.session.session_key, our 49-character token, in a
    # varchar(40) column (and in clear): with it installed every allauth login fails on
    # PostgreSQL. SQLite ignores the length, so test_usersessions.py runs on SQLite only.
    INSTALLED_APPS.insert(INSTALLED_APPS.index("allauth.account") + 1, "allauth.usersessions")

LOGIN_URL = "/admin/login/"

# Django 6.1 names mail backends in MAILERS (the test runner swaps each for locmem).
import django  # noqa: E402

if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
