"""The example site's own views, through the real middleware (no browser)."""

from __future__ import annotations

import pytest

from byo_sessions import is_err, is_ok, sessions
from byo_sessions.models import Session
from tests.constants import UA
from tests.dpop_signer import TestDevice

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

COOKIE = "demo_token"  # SESSION_COOKIE_NAME in these tests (demo_settings)


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.SESSION_COOKIE_NAME = COOKIE
    settings.BYO_SESSIONS = {
        "ROTATION_INTERVAL_SECS": 300,
        "ROTATION_GRACE_SECS": 30,
        "REAUTH_MAX_AGE_SECS": 900,
        "REAUTH_URL": "reauthenticate",
        "ADAPTER": "example_project.demo.adapter.DemoAdapter",
    }


def test_end_all_others_keeps_this_session_even_when_this_request_rotated_it(client, user, clock):
    mine = sessions.create(user_id=user.pk, ip_address="127.0.0.1", user_agent=UA).data
    other = sessions.create(user_id=user.pk, ip_address="127.0.0.1", user_agent=UA).data
    client.cookies[COOKIE] = mine.session_token
    clock.advance(301)  # this very request rotates the token before the view runs
    response = client.post("/account/sessions/end-others/", HTTP_USER_AGENT=UA)
    assert response.status_code == 302 and response["Location"] == "/account/sessions/"
    rotated = response.cookies[COOKIE].value
    assert rotated != mine.session_token
    assert is_ok(sessions.validate(session_token=rotated))
    assert is_err(sessions.validate(session_token=other.session_token))
    assert client.get("/account/", HTTP_USER_AGENT=UA).status_code == 200


def log_in_with_device(client, device: TestDevice, clock):
    """The demo's login form as device.js fills it: a proof over this POST in ``device_proof``."""
    nonce = sessions.device.create_challenge(ip_address="127.0.0.1", user_agent=UA).data.device_challenge
    proof = device.proof("POST", "http://testserver/login/", nonce, iat=int(clock.now().timestamp()))
    return client.post(
        "/login/", {"username": "alice", "password": "pw-alice-123", "device_proof": proof}, HTTP_USER_AGENT=UA
    )


def test_the_demo_adapter_tags_logins_and_emails_a_new_device(
    client, user, clock, mailoutbox, django_capture_on_commit_callbacks
):
    user.email = "alice@example.com"
    user.save()
    device = TestDevice()
    with django_capture_on_commit_callbacks(execute=True):
        response = log_in_with_device(client, device, clock)
    assert response.status_code == 302 and response["Location"] == "/account/"
    session = Session.objects.get(user=user, ended_at__isnull=True)
    assert session.tags == ["role:member"] and session.device_id is not None
    (email,) = mailoutbox
    assert email.to == ["alice@example.com"] and "new device" in email.subject.lower()
    assert "Chrome 131 on Linux" in email.body and "127.0.0.1" in email.body

    with django_capture_on_commit_callbacks(execute=True):
        assert log_in_with_device(client, device, clock).status_code == 302  # the same key: no email
    assert len(mailoutbox) == 1


def test_the_admin_login_gets_the_demo_adapter_tags(client, admin_user):
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "password"})
    assert response.status_code == 302
    assert Session.objects.get(user=admin_user).tags == ["role:staff"]


def test_end_all_others_and_the_password_change_ask_for_a_recent_sign_in(client, user, clock):
    """ASVS 3.7.1 in the demo: past REAUTH_MAX_AGE_SECS, both sensitive actions go through
    the demo's re-auth page and come back; the other session ends only after it."""
    mine = sessions.create(user_id=user.pk, ip_address="127.0.0.1", user_agent=UA).data
    other = sessions.create(user_id=user.pk, ip_address="127.0.0.1", user_agent=UA).data
    client.cookies[COOKIE] = mine.session_token
    clock.advance(901)
    asked = client.post(
        "/account/sessions/end-others/", HTTP_USER_AGENT=UA, HTTP_REFERER="http://testserver/account/sessions/"
    )
    assert asked.status_code == 302 and asked["Location"].startswith("/account/confirm/?next=")
    assert is_ok(sessions.validate(session_token=other.session_token))  # nothing ended yet
    page = client.get(asked["Location"], HTTP_USER_AGENT=UA)
    assert page.status_code == 200 and b"Confirm it is you" in page.content
    back = client.post(
        asked["Location"], {"password": "pw-alice-123", "next": "/account/sessions/"}, HTTP_USER_AGENT=UA
    )
    assert back["Location"] == "/account/sessions/"
    assert client.post("/account/sessions/end-others/", HTTP_USER_AGENT=UA)["Location"] == "/account/sessions/"
    assert is_err(sessions.validate(session_token=other.session_token))

    clock.advance(901)
    assert client.get("/account/password/", HTTP_USER_AGENT=UA)["Location"].startswith("/account/confirm/")
    client.post("/account/confirm/", {"password": "pw-alice-123", "next": "/account/password/"}, HTTP_USER_AGENT=UA)
    changed = client.post(
        "/account/password/",
        {"old_password": "pw-alice-123", "new_password1": "N3w-pass-word!", "new_password2": "N3w-pass-word!"},
        HTTP_USER_AGENT=UA,
    )
    assert changed.status_code == 302 and changed["Location"] == "/account/"
    user.refresh_from_db()
    assert user.check_password("N3w-pass-word!")
