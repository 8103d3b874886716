"""Settings every compatibility test shares: this package's templates first (Django's auth
views need ``registration/*``), Django's login URL, no BYO_SESSIONS keys."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from byo_sessions.models import Session
from tests.constants import COOKIE

TEMPLATES_DIR = Path(__file__).parent / "templates"


@pytest.fixture(autouse=True)
def compat_settings(settings: Any) -> None:
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [TEMPLATES_DIR, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
    settings.LOGIN_URL = "/accounts/login/"
    settings.LOGIN_REDIRECT_URL = "/whoami/"
    settings.BYO_SESSIONS = {}


def login_through_django(client: Client, username: str, password: str) -> str:
    """Django's ``LoginView``, as a browser posts it; returns the new session cookie."""
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content
    return response.cookies[COOKIE].value


def live_sessions(user: Any) -> list[Session]:
    return list(Session.objects.filter(user=user, ended_at__isnull=True))
