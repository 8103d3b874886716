"""Production-like settings (DEBUG off, HTTPS only, secure cookies): ``check --deploy``
must be clean with them. ``BYO_SITE_DIR`` holds the SQLite file."""

import os
from pathlib import Path

SITE_DIR = Path(os.environ["BYO_SITE_DIR"])

SECRET_KEY = "packaging-test-key-5f0c8a1e9b7d4c3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c"
DEBUG = False
ALLOWED_HOSTS = ["app.example.com"]
USE_TZ = True
ROOT_URLCONF = "packaging_site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": SITE_DIR / "db.sqlite3"}}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "byo_sessions",
]
SESSION_ENGINE = "byo_sessions.backends.db"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "byo_sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "byo_sessions.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
STATIC_ROOT = SITE_DIR / "static"

SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 12 * 3600, "INACTIVITY_TIMEOUT_SECS": 30 * 60}
