"""allauth.usersessions (its list of a user's sessions, "sign out other sessions") on
byo_sessions' engine.

allauth records a session as ``UserSession(session_key=request.session.session_key)`` when
someone logs in through allauth, and later asks the engine whether that key still exists.
Our key is the session's token, which rotation replaces (every ROTATION_INTERVAL_SECS), so
allauth keeps track of a session only until its next rotation, unless
USERSESSIONS_TRACK_ACTIVITY records the new key on every request. The tests pin that down.

allauth's column for that key is ``varchar(40)`` and our token has 49 characters, so on
PostgreSQL (which enforces the length) the app breaks every allauth login: tests/settings.py
installs it on SQLite only, and this module runs there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

if "allauth.usersessions" not in settings.INSTALLED_APPS:
    pytest.skip(
        "allauth.usersessions is installed on SQLite only (its session_key column is varchar(40), "
        "our token is longer): see tests/settings.py",
        allow_module_level=True,
    )

from allauth.usersessions.models import UserSession  # noqa: E402

from byo_sessions.conf import byo_settings  # noqa: E402
from byo_sessions.core.tokens import hash_token  # noqa: E402
from byo_sessions.models import Session  # noqa: E402

from .conftest import COOKIE, URLS, session_of, whoami  # noqa: E402
from .test_account import allauth_login  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]


@pytest.fixture
def laptop(user: Any) -> Client:
    client = Client(HTTP_USER_AGENT="Laptop/1.0")
    allauth_login(client, "alice", "pw-alice-123")
    return client


@pytest.fixture
def phone(user: Any) -> Client:
    client = Client(HTTP_USER_AGENT="Phone/2.0")
    allauth_login(client, "alice", "pw-alice-123")
    return client


def listed(client: Client) -> Any:
    response = client.get("/accounts/sessions/")
    assert response.status_code == 200
    return response.context


def test_the_list_shows_the_users_sessions_and_marks_the_current_one(laptop, phone):
    context = listed(laptop)
    assert context["session_count"] == 2
    sessions = {s.user_agent: s for s in context["sessions"]}
    assert set(sessions) == {"Laptop/1.0", "Phone/2.0"}
    # allauth's key is our token, the one each browser holds
    assert hash_token(sessions["Laptop/1.0"].session_key) == session_of(laptop).token_hash
    assert hash_token(sessions["Phone/2.0"].session_key) == session_of(phone).token_hash
    page = laptop.get("/accounts/sessions/").content.decode()
    assert page.count("Current") == 1  # is_current(): the row's key is the request's session key
    assert "Sign Out Other Sessions" in page


def test_allauth_keeps_our_raw_token_in_a_column_too_short_for_it(laptop):
    """Why the app cannot be used with byo_sessions in production: its row holds the live
    credential in clear (we store only its hash), and does not fit its column."""
    row = UserSession.objects.get()
    assert row.session_key == laptop.cookies[COOKIE].value
    assert len(row.session_key) > UserSession._meta.get_field("session_key").max_length


def test_the_list_needs_a_login(client, db):
    response = client.get("/accounts/sessions/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_out_other_sessions_ends_them(laptop, phone):
    kept, other = session_of(laptop), session_of(phone)
    response = laptop.post("/accounts/sessions/")
    assert response.status_code == 302 and response["Location"] == "/accounts/sessions/"
    other.refresh_from_db()
    assert other.ended_at is not None
    # allauth ends a session with SessionStore().delete(key): to us, a logout of that session
    assert other.end_reason == "logout"
    kept.refresh_from_db()
    assert kept.ended_at is None
    assert whoami(phone) is None
    assert whoami(laptop) == "alice"
    assert list(UserSession.objects.values_list("user_agent", flat=True)) == ["Laptop/1.0"]


def test_a_session_leaves_allauths_list_at_its_first_rotation(laptop, phone, clock):
    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + byo_settings.ROTATION_GRACE_SECS + 1)
    context = listed(laptop)  # this request rotates the laptop's token before the view runs
    assert [s.user_agent for s in context["sessions"]] == ["Phone/2.0"]  # the laptop's own is gone
    assert session_of(laptop).ended_at is None  # while the session itself lives on


def test_sign_out_other_sessions_misses_a_session_rotated_twice(laptop, phone, clock):
    """allauth's row keeps the token of the login; our ``delete(key)`` also matches the
    previous token, so one rotation is still caught, two are not."""
    for _ in range(2):
        clock.advance(byo_settings.ROTATION_INTERVAL_SECS + byo_settings.ROTATION_GRACE_SECS + 1)
        assert whoami(phone) == "alice"  # the phone's token rotates
    laptop.post("/accounts/sessions/")
    assert session_of(phone).ended_at is None
    assert whoami(phone) == "alice"


def test_track_activity_keeps_a_rotated_session_listed(laptop, phone, clock, settings):
    settings.USERSESSIONS_TRACK_ACTIVITY = True  # the middleware records the key on each request
    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + byo_settings.ROTATION_GRACE_SECS + 1)
    context = listed(laptop)
    agents = sorted(s.user_agent for s in context["sessions"])
    assert agents == ["Laptop/1.0", "Phone/2.0"]
    laptop_row = next(s for s in context["sessions"] if s.user_agent == "Laptop/1.0")
    assert hash_token(laptop_row.session_key) == session_of(laptop).token_hash


def test_sessions_from_other_logins_are_not_in_allauths_list(laptop, user):
    """allauth records sessions on its own ``user_logged_in`` signal, not Django's: a session
    made by dj-rest-auth, the admin or ``byo_sessions.login`` is not listed, and so not
    signed out by "sign out other sessions" (byo's own ``invalidate_all_for_user_except_one``
    covers them all)."""
    api = Client()
    assert (
        api.post(
            "/api/auth/login/", {"username": "alice", "password": "pw-alice-123"}, content_type="application/json"
        ).status_code
        == 204
    )
    assert [s.user_agent for s in listed(laptop)["sessions"]] == ["Laptop/1.0"]
    laptop.post("/accounts/sessions/")
    assert whoami(api) == "alice"
    assert Session.objects.filter(user=user, ended_at__isnull=True).count() == 2


@pytest.mark.urls("tests.urls")
def test_track_activity_does_not_lift_a_views_device_requirement(client, user, settings):
    """UserSessionsMiddleware (TRACK_ACTIVITY) reads request.user in ``__call__``, before the
    view is known: the view's device demand must still be enforced."""
    settings.USERSESSIONS_TRACK_ACTIVITY = True
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]  # tests/urls' login
    assert client.post("/login/", {"username": "alice"}).status_code == 200
    response = client.get("/device-api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json()["type"] == "DeviceVerificationRequired"
