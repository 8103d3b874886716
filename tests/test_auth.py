"""``byo_sessions.login`` / ``logout`` (auth.py): a login ends the session the request
presented (fixation), a refused login changes nothing, logout ends the session and clears
the cookie."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

import byo_sessions
from byo_sessions import is_ok, sessions
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Session
from tests.constants import COOKIE
from tests.test_middleware import login

pytestmark = pytest.mark.django_db


def test_login_ends_the_presented_session_no_fixation(client, user):
    first = login(client)
    second = login(client)
    assert first != second
    other = Client()
    other.cookies[COOKIE] = first
    assert other.get("/whoami/").json()["error"] == "SessionInvalidated"
    # Both rows have the same created_at (the clock is frozen): name each by its token.
    assert Session.objects.get(token_hash=hash_token(first)).end_reason == "login_replaced"
    assert Session.objects.get(token_hash=hash_token(second)).end_reason == ""


def test_planted_token_is_replaced_at_login(client, user, other_user):
    planted = sessions.create(user_id=other_user.pk).data.session_token
    client.cookies[COOKIE] = planted
    fresh = login(client)
    assert fresh != planted
    assert sessions.validate(session_token=planted).error.type == "SessionInvalidated"


def test_logout_clears_cookie_and_ends_session(client, user):
    token = login(client)
    response = client.get("/logout/")
    assert response.cookies[COOKIE].value == "" and response.cookies[COOKIE]["max-age"] == 0
    assert sessions.validate(session_token=token).error.details["reason"] == "logout"
    assert client.get("/whoami/").json()["user"] is None


def test_a_refused_login_leaves_the_current_session_alone(client, user):
    token = login(client)
    response = client.post("/login/", {"username": "alice", "tag": "bad tag"})
    assert response.status_code == 400 and response.json()["type"] == "InvalidTagFormat"
    assert is_ok(sessions.validate(session_token=token))
    assert client.get("/whoami/").json()["user"] == "alice"


def test_relogin_is_not_blocked_by_the_session_it_replaces(client, user):
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=1, on_session_limit_exceeded="reject_new"
    )
    first = client.post("/login/", {"username": "alice", "tag": "org:acme"}).cookies[COOKIE].value
    second = client.post("/login/", {"username": "alice", "tag": "org:acme"})
    assert second.status_code == 200
    assert sessions.validate(session_token=first).error.details["reason"] == "login_replaced"


def test_login_needs_the_byo_session_engine(rf, user):
    """Without our store there is no session to create: a configuration error, not an AttributeError."""
    with pytest.raises(ImproperlyConfigured, match="SESSION_ENGINE"):
        byo_sessions.login(rf.get("/"), user)


def test_login_with_several_backends_and_none_named_creates_nothing(client, user, settings):
    """Django's rule for auth.login(), applied before the session is made."""
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django.contrib.auth.backends.AllowAllUsersModelBackend",
    ]
    with pytest.raises(ValueError, match="multiple authentication backends"):
        client.post("/login/", {"username": "alice"})
    assert not Session.objects.exists()
