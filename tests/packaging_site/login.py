"""Run by tests/test_packaging.py with the clean venv's Python, after ``migrate``: a user
logs in through Django's LoginView over HTTPS and reaches a ``login_required`` view; the
admin renders the package's own template; ``device.js`` is found as a static file."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packaging_site.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.staticfiles import finders  # noqa: E402
from django.template.loader import get_template  # noqa: E402
from django.test import Client  # noqa: E402

import byo_sessions  # noqa: E402
from byo_sessions.models import Session  # noqa: E402

get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-password-1")
client = Client(HTTP_HOST="app.example.com")
assert client.get("/me/", secure=True).status_code == 302
answer = client.post("/accounts/login/", {"username": "admin", "password": "admin-password-1"}, secure=True)
assert answer.status_code == 302, answer.status_code
cookie = answer.cookies["sessionid"]
me = client.get("/me/", secure=True).json()
admin_page = client.get("/admin/byo_sessions/session/", secure=True)
print(
    json.dumps(
        {
            "package": byo_sessions.__file__,
            "version": byo_sessions.__version__,
            "user": me["user"],
            "session_in_db": Session.objects.filter(id=me["session"], ended_at=None).exists(),
            "cookie_secure": bool(cookie["secure"]),
            "cookie_httponly": bool(cookie["httponly"]),
            "token_prefix": cookie.value[:6],
            "admin_status": admin_page.status_code,
            "admin_template": get_template("admin/byo_sessions/session/change_list.html").origin.name,
            "device_js": finders.find("byo_sessions/device.js"),
        }
    )
)
