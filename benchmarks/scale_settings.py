"""Django settings for the operator-tooling benchmarks at scale (``bench_scale.py``,
``docs/benchmarks.md``): ``benchmarks.settings`` plus the admin, on PostgreSQL
(``BYO_BENCH_POSTGRES=host:port``, ``BYO_BENCH_PGNAME``)."""

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = ["django.contrib.admin", "django.contrib.messages", *INSTALLED_APPS]  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE, "django.contrib.messages.middleware.MessageMiddleware"]  # noqa: F405
ROOT_URLCONF = "benchmarks.scale_urls"
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
BYO_SESSIONS = {**BYO_SESSIONS, "TOUCH_INTERVAL_SECS": 60}  # noqa: F405 - requests write their row now and then
