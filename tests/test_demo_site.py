"""The example site's own views, through the real middleware (no browser)."""
from __future__ import annotations

import pytest

from byo_sessions import is_err, is_ok, sessions
from tests.constants import UA

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

COOKIE = "demo_token"  # SESSION_COOKIE_NAME in these tests (demo_settings)


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.SESSION_COOKIE_NAME = COOKIE
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 300,
                             "ROTATION_GRACE_SECS": 30}


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
