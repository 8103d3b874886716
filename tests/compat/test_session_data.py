"""``request.session`` as Django code uses it, on the byo engine: the test client's session
API, messages through Django's FallbackStorage, a visitor's cart across login, rotation
and logout, and CSRF tokens kept in the session."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import SESSION_KEY
from django.test import Client

from byo_sessions import DeviceRegistration, sessions
from byo_sessions.conf import byo_settings
from byo_sessions.models import Session
from tests.compat.conftest import COOKIE, live_sessions, login_through_django
from tests.constants import IP, UA
from tests.dpop_signer import TestDevice

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.compat.urls")]


def visitor_rows() -> int:
    return Session.objects.filter(user__isnull=True, external_user_id__isnull=True).count()


# --- 6. The test client --------------------------------------------------------------------


def test_client_login_and_logout(client, user):
    assert client.login(username="alice", password="pw-alice-123") is True
    (session,) = Session.objects.all()  # the visitor row client.session made on the way is gone
    assert session.user == user
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.get("/whoami/").json()["user"] == "alice"
    token = client.cookies[COOKIE].value

    client.logout()
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    assert client.get("/whoami/").json()["user"] is None
    replay = Client()
    replay.cookies[COOKIE] = token
    assert replay.get("/whoami/").json()["user"] is None
    assert Client().login(username="alice", password="wrong") is False


def test_client_force_login(client, user):
    client.force_login(user)
    assert [s.user_id for s in live_sessions(user)] == [user.pk]
    assert client.get("/whoami/").json()["user"] == "alice"


@pytest.mark.parametrize("logged_in", [False, True])
def test_client_session_round_trip(client, user, logged_in):
    if logged_in:
        client.force_login(user)
    session = client.session
    session["k"] = "v"
    session.save()
    body = client.get("/whoami/").json()
    assert body == {"user": "alice" if logged_in else None, "data": {"k": "v", "cart": None}}
    assert client.session["k"] == "v"
    (row,) = Session.objects.all()
    assert (row.user_id == user.pk) is logged_in


def test_async_client_aforce_login(async_client, user):
    async def flow() -> Any:
        await async_client.aforce_login(user)
        return (await async_client.get("/whoami/")).json()

    assert async_to_sync(flow)()["user"] == "alice"
    assert len(live_sessions(user)) == 1


# --- 7. Messages (Django's default FallbackStorage) -----------------------------------------


@pytest.mark.parametrize("logged_in", [False, True])
def test_messages_small_and_too_large_for_the_cookie(client, user, logged_in):
    if logged_in:
        client.force_login(user)
    client.get("/messages/add/", {"text": "Saved."})
    assert b"<li>Saved.</li>" in client.get("/messages/show/").content
    assert b"<li>" not in client.get("/messages/show/").content  # shown once

    # Random text does not compress below CookieStorage's 2048-byte cookie: FallbackStorage
    # keeps it in request.session.
    large = secrets.token_urlsafe(4000)
    sessions_before = Session.objects.count()
    client.get("/messages/add/", {"text": large})
    assert Session.objects.count() == sessions_before + (0 if logged_in else 1)
    (row,) = Session.objects.filter(user=user if logged_in else None)
    assert large in row.data  # the message sits in request.session (the visitor's or the user's)
    shown = client.get("/messages/show/").content
    assert shown.count(large.encode()) == 1
    row.refresh_from_db()
    assert large not in row.data  # consumed
    assert b"<li>" not in client.get("/messages/show/").content


# --- 8. A visitor's cart -----------------------------------------------------------------------


def test_a_visitor_who_stores_nothing_gets_no_row_and_no_cookie(client, db):
    response = client.get("/cart/")
    assert response.json() == {"cart": []}
    assert COOKIE not in response.cookies
    assert Session.objects.count() == 0


def test_cart_survives_login_and_rotation_and_ends_with_logout(client, user, clock):
    response = client.get("/cart/add/", {"item": "apple"})
    assert COOKIE in response.cookies
    (visitor,) = Session.objects.all()
    assert visitor.user_id is None and visitor.external_user_id is None and visitor.ended_at is None
    client.get("/cart/add/", {"item": "pear"})
    assert client.get("/cart/").json() == {"cart": ["apple", "pear"]}
    assert Session.objects.count() == 1

    login_through_django(client, "alice", "pw-alice-123")
    assert client.get("/cart/").json() == {"cart": ["apple", "pear"]}
    assert not Session.objects.filter(pk=visitor.pk).exists()  # moved, not copied
    (session,) = Session.objects.all()
    assert session.user == user

    clock.advance(byo_settings.ROTATION_INTERVAL_SECS + 1)
    old_token = client.cookies[COOKIE].value
    rotated = client.get("/cart/")
    assert rotated.json() == {"cart": ["apple", "pear"]}
    new_token = rotated.cookies[COOKIE].value
    assert new_token != old_token
    other_tab = Client()
    other_tab.cookies[COOKIE] = new_token
    assert other_tab.get("/whoami/").json() == {"user": "alice", "data": {"k": None, "cart": ["apple", "pear"]}}
    assert [s.id for s in live_sessions(user)] == [session.id]

    client.post("/accounts/logout/")
    assert client.get("/cart/").json() == {"cart": []}
    other_tab.cookies[COOKIE] = new_token
    assert other_tab.get("/cart/").json() == {"cart": []}
    assert Session.objects.get(pk=session.id).end_reason == "logout"


# --- 9. CSRF_USE_SESSIONS --------------------------------------------------------------------


@pytest.mark.parametrize("logged_in", [False, True])
def test_csrf_token_kept_in_the_session(user, settings, logged_in):
    settings.CSRF_USE_SESSIONS = True
    client = Client(enforce_csrf_checks=True)
    if logged_in:
        client.force_login(user)
    page = client.get("/form/")
    token = page.context["csrf_token"]
    assert f'name="csrfmiddlewaretoken" value="{token}"' in page.content.decode()
    assert "csrftoken" not in client.cookies  # in the session, not in a cookie
    assert Session.objects.filter(user=user if logged_in else None).count() == 1

    assert client.post("/form/").status_code == 403
    assert client.post("/form/", {"csrfmiddlewaretoken": "x" * 32}).status_code == 403
    accepted = client.post("/form/", {"csrfmiddlewaretoken": str(token)})
    assert accepted.status_code == 200 and accepted.content == b"posted"
    stranger = Client(enforce_csrf_checks=True)  # a token from another session is no good
    assert stranger.post("/form/", {"csrfmiddlewaretoken": str(token)}).status_code == 403


DEVICE_URL = "http://testserver/device-only/"


def device_proof(device: TestDevice, clock: Any, method: str, url: str) -> str:
    nonce = sessions.device.create_challenge(ip_address=IP, user_agent=UA).data.device_challenge
    return device.proof(method, url, nonce, iat=int(clock.now().timestamp()))


@pytest.mark.parametrize("csrf_use_sessions", [False, True])
def test_device_rule_of_a_view_holds_when_csrf_reads_the_session_first(user, settings, clock, csrf_use_sessions):
    """Under CSRF_USE_SESSIONS, CsrfViewMiddleware loads the session in process_request,
    before the view (and its ``device_verification_required``) is known."""
    settings.CSRF_USE_SESSIONS = csrf_use_sessions
    device = TestDevice()
    login_url = "http://testserver/accounts/login/"
    registration = DeviceRegistration(
        signed_device_challenge=device_proof(device, clock, "POST", login_url),
        request_url=login_url,
        request_method="POST",
    )
    bound = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=registration)
    unbound = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA)
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    client.cookies[COOKIE] = bound.data.session_token
    if csrf_use_sessions:
        client.get("/form/")  # the CSRF secret now sits in the session: every request reads it early

    missing = client.get("/device-only/", HTTP_ACCEPT="application/json")
    assert missing.status_code == 401 and missing.json()["type"] == "DeviceVerificationRequired"
    proven = client.get("/device-only/", HTTP_DPOP=device_proof(device, clock, "GET", DEVICE_URL))
    assert proven.status_code == 200 and proven.json() == {"user": "alice"}
    assert client.get("/whoami/").json()["user"] == "alice"  # other views need no proof

    client.cookies[COOKIE] = unbound.data.session_token
    if csrf_use_sessions:
        client.get("/form/")
    no_device = client.get(
        "/device-only/", HTTP_DPOP=device_proof(device, clock, "GET", DEVICE_URL), HTTP_ACCEPT="application/json"
    )
    assert no_device.status_code == 401 and no_device.json()["details"]["reason"] == "no_device_registered"
