"""A site with allauth and dj-rest-auth on byo_sessions' engine (the apps, middleware and
ACCOUNT_*/REST_AUTH settings are in tests/settings.py; what only these tests need is here)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client

from byo_sessions.adapter import SessionAdapter
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Session
from byo_sessions.values import LoginOptions
from tests.constants import COOKIE

URLS = "tests.compat_allauth.urls"


class ThirdPartyAdapter(SessionAdapter):
    """What sessions made by third-party logins (allauth, dj-rest-auth) carry."""

    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        return LoginOptions(tags=["login:third_party"], metadata={"path": request.path if request else None})


@pytest.fixture(autouse=True)
def allauth_site(settings: Any) -> None:
    # Two backends as allauth documents; tests/settings.py keeps one (see the note there).
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "allauth.account.auth_backends.AuthenticationBackend",
    ]
    settings.LOGIN_URL = "/accounts/login/"
    settings.LOGIN_REDIRECT_URL = "/whoami/"
    settings.BYO_SESSIONS = {"ADAPTER": f"{__name__}.ThirdPartyAdapter"}


def session_of(client: Client) -> Session:
    """The byo session behind the client's cookie (current token)."""
    return Session.objects.get(token_hash=hash_token(client.cookies[COOKIE].value))


def whoami(client: Client) -> str | None:
    return client.get("/whoami/").json()["user"]
