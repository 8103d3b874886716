"""dj-rest-auth's session login (``REST_AUTH["SESSION_LOGIN"]``, no token model), user
details, password change and logout on byo_sessions' engine, as a single-page app calls
them: JSON bodies, the session cookie, and Django's CSRF token in ``X-CSRFToken``
(DRF's SessionAuthentication enforces it for logged-in requests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from byo_sessions.models import Session

from .conftest import COOKIE, URLS, session_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


def spa() -> Client:
    return Client(enforce_csrf_checks=True)


def api_login(client: Client, username: str = "alice", password: str = "pw-alice-123") -> Any:
    response = client.post(
        "/api/auth/login/", {"username": username, "password": password}, content_type="application/json"
    )
    assert response.status_code == 204, response.content  # no token model, no JWT: the session is all
    return response


def post(client: Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(
        path, body or {}, content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )


def test_login_starts_a_session_and_the_user_endpoint_sees_it(user):
    client = spa()
    response = api_login(client)
    assert response.cookies[COOKIE].value and response.cookies["csrftoken"].value  # auth.login() rotated CSRF
    session = session_of(client)
    assert session.user_id == user.pk and session.ended_at is None
    assert session.tags == ["login:third_party"] and session.metadata == {"path": "/api/auth/login/"}
    me = client.get("/api/auth/user/")
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_wrong_password_is_refused_without_a_session(user):
    client = spa()
    response = client.post(
        "/api/auth/login/", {"username": "alice", "password": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert COOKIE not in response.cookies and not Session.objects.exists()
    assert client.get("/api/auth/user/").status_code == 403


def test_password_change_ends_the_other_sessions_and_keeps_this_one(user):
    client, elsewhere = spa(), spa()
    api_login(client)
    api_login(elsewhere)
    kept, other = session_of(client), session_of(elsewhere)
    old_cookie = client.cookies[COOKIE].value
    response = post(
        client,
        "/api/auth/password/change/",
        {"new_password1": "Alice-new-pw-7788", "new_password2": "Alice-new-pw-7788"},
    )
    assert response.status_code == 200, response.content
    other.refresh_from_db()
    assert other.ended_at is not None and other.end_reason == "password_changed"
    kept.refresh_from_db()
    assert kept.ended_at is None
    # update_session_auth_hash() rotated this session's token: same session, new cookie
    assert response.cookies[COOKIE].value != old_cookie
    assert session_of(client).pk == kept.pk
    assert client.get("/api/auth/user/").json()["username"] == "alice"
    assert elsewhere.get("/api/auth/user/").status_code == 403
    user.refresh_from_db()
    assert user.check_password("Alice-new-pw-7788")


def test_password_change_needs_the_csrf_token(user):
    client = spa()
    api_login(client)
    response = client.post(
        "/api/auth/password/change/",
        {"new_password1": "Alice-new-pw-7788", "new_password2": "Alice-new-pw-7788"},
        content_type="application/json",
    )
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    user.refresh_from_db()
    assert user.check_password("pw-alice-123")


def test_logout_ends_the_session(user):
    client = spa()
    api_login(client)
    session = session_of(client)
    response = post(client, "/api/auth/logout/")
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    assert response.cookies[COOKIE]["max-age"] == 0
    assert client.get("/api/auth/user/").status_code == 403
