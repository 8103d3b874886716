"""allauth's account views (login, signup, logout, "remember me") on byo_sessions' engine."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from byo_sessions.backends.db import SessionStore
from byo_sessions.conf import byo_settings
from byo_sessions.models import Session

from .conftest import COOKIE, URLS, session_of, whoami

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def allauth_login(client: Client, username: str, password: str, **extra: Any) -> Any:
    response = client.post("/accounts/login/", {"login": username, "password": password, **extra})
    assert response.status_code == 302, response.content
    assert response["Location"] == "/whoami/"
    return response


def test_login_page_renders_for_a_visitor(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="login"' in response.content and b'name="password"' in response.content
    assert not Session.objects.exists()  # allauth only read request.session: no visitor row
    assert client.get("/accounts/signup/").status_code == 200


def test_signup_creates_the_user_and_logs_them_in(client, django_user_model):
    response = client.post(
        "/accounts/signup/", {"username": "carol", "password1": "Carol-pw-9431", "password2": "Carol-pw-9431"}
    )
    assert response.status_code == 302, response.content
    carol = django_user_model.objects.get(username="carol")
    session = Session.objects.get(user=carol)
    assert session.ended_at is None and session.tags == ["login:third_party"]
    assert response.cookies[COOKIE].value  # the browser holds this session's token
    assert session_of(client).pk == session.pk
    assert whoami(client) == "carol"


def test_login_through_allauths_form(client, user):
    allauth_login(client, "alice", "pw-alice-123")
    session = session_of(client)
    assert session.user_id == user.pk and session.ended_at is None
    assert whoami(client) == "alice"
    # allauth wrote its login record into request.session after the login: it is in our row
    store = SessionStore(client.cookies[COOKIE].value)
    assert store["account_authentication_methods"][0]["method"] == "password"


def test_wrong_password_makes_no_user_session(client, user):
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong"})
    assert response.status_code == 200  # the form again, with its error
    assert not Session.objects.filter(user=user).exists()
    assert whoami(client) is None


def test_allauth_login_gets_the_adapter_login_options(client, user):
    allauth_login(client, "alice", "pw-alice-123")
    session = session_of(client)
    assert session.tags == ["login:third_party"]
    assert session.metadata == {"path": "/accounts/login/"}


def test_logout_through_allauth_ends_the_session(client, user):
    allauth_login(client, "alice", "pw-alice-123")
    session = session_of(client)
    token = client.cookies[COOKIE].value
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    assert response.cookies[COOKIE]["max-age"] == 0  # the cookie is cleared
    assert whoami(client) is None
    replay = Client()
    replay.cookies[COOKIE] = token
    assert replay.get("/whoami/").json()["error"] == "SessionInvalidated"


def test_logout_page_on_get_does_not_log_out(client, user):
    allauth_login(client, "alice", "pw-alice-123")
    assert client.get("/accounts/logout/").status_code == 200  # a confirmation page
    assert whoami(client) == "alice"


def test_remember_me_unchecked_gives_a_browser_session_cookie(client, user, clock):
    response = allauth_login(client, "alice", "pw-alice-123")  # no "remember": set_expiry(0)
    morsel = response.cookies[COOKIE]
    assert morsel["max-age"] == "" and morsel["expires"] == ""
    session = session_of(client)
    assert session.expires_at == session.created_at + timedelta(seconds=byo_settings.ABSOLUTE_LIFETIME_SECS)
    # the rotated token is a browser-session cookie too
    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + 1)
    rotated = client.get("/whoami/")
    assert rotated.json()["user"] == "alice"
    assert rotated.cookies[COOKIE].value != response.cookies[COOKIE].value
    assert rotated.cookies[COOKIE]["max-age"] == "" and rotated.cookies[COOKIE]["expires"] == ""


def test_remember_me_cannot_extend_the_session_beyond_its_policy(client, user, settings):
    settings.SESSION_COOKIE_AGE = 60 * 24 * 3600  # allauth remembers for SESSION_COOKIE_AGE: 60 days
    allauth_login(client, "alice", "pw-alice-123", remember="on")
    session = session_of(client)
    assert session.expires_at == session.created_at + timedelta(seconds=byo_settings.ABSOLUTE_LIFETIME_SECS)
    assert whoami(client) == "alice"


def test_remember_me_with_a_shorter_age_brings_the_end_closer(client, user, settings, clock):
    settings.SESSION_COOKIE_AGE = 3600
    response = allauth_login(client, "alice", "pw-alice-123", remember="on")
    assert response.cookies[COOKIE]["max-age"] == 3600
    session = session_of(client)
    # Django computes set_expiry()'s end from the wall clock, the test's byo clock is frozen
    assert abs(session.expires_at - (session.created_at + timedelta(seconds=3600))) < timedelta(seconds=5)
    clock.advance(3600 + 10)
    assert whoami(client) is None


def test_login_by_code_moves_allauths_pending_login_into_the_users_session(client, django_user_model, mailoutbox):
    """allauth keeps a login in progress in a visitor's session (an ownerless row here), and
    the login replaces that row by the user's session."""
    django_user_model.objects.create_user(username="dora", email="dora@example.com", password="Dora-pw-5521")
    response = client.post("/accounts/login/code/", {"email": "dora@example.com"})
    assert response.status_code == 302
    pending = Session.objects.get()
    assert pending.user_id is None and "account_login" in SessionStore(client.cookies[COOKIE].value)
    code = re.search(r"^([A-Z0-9]{4}-?[A-Z0-9]{2,4})$", mailoutbox[0].body, re.MULTILINE).group(1)
    response = client.post(response["Location"], {"code": code})
    assert response.status_code == 302 and response["Location"] == "/whoami/"
    assert not Session.objects.filter(pk=pending.pk).exists()  # the visitor's row is gone
    session = session_of(client)
    assert session.user.username == "dora" and session.tags == ["login:third_party"]
    assert "account_login" not in SessionStore(client.cookies[COOKIE].value)
    assert whoami(client) == "dora"
