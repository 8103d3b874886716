"""``sessionDurationMinutes`` on the validate commands: an optional request field of ours
(the published clients never send it, and ignore nothing new in the answer: ``expiresAt``
was always there), extending the session as the service's ``session_duration_minutes``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from byo_sessions import sessions
from byo_sessions.models import Session
from tests.server.conftest import configure

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.server.urls")]

HOUR = 3600


@pytest.fixture(autouse=True)
def extending(settings):
    configure(
        settings,
        ABSOLUTE_LIFETIME_SECS=HOUR,
        INACTIVITY_TIMEOUT_SECS=None,
        ROTATION_INTERVAL_SECS=None,
        DEFAULT_POLICY={"allow_session_extension": True, "max_extended_lifetime_secs": 4 * HOUR},
    )


@pytest.mark.parametrize("command", ["ValidateSession", "ValidateAndRefreshSession"])
def test_validate_commands_extend_and_answer_the_new_expiry(post, clock, command):
    created = sessions.create(external_user_id="u1").data
    clock.advance(30 * 60)
    status, body = post(
        {"command": command, "data": {"sessionToken": created.session_token, "sessionDurationMinutes": 120}}
    )
    wanted = clock.now() + timedelta(minutes=120)
    assert status == 200 and body["expiresAt"] == int(wanted.timestamp())
    assert Session.objects.get(pk=created.session_id).expires_at == wanted
    status, body = post({"command": command, "data": {"sessionToken": created.session_token}})
    assert status == 200 and body["expiresAt"] == int(wanted.timestamp())  # without the field: as before


@pytest.mark.parametrize("value", [0, -1, 1.5, "60", True, 400 * 24 * 60 + 1])
def test_a_bad_duration_is_a_bad_request(post, value):
    created = sessions.create(external_user_id="u1").data
    status, body = post(
        {"command": "ValidateSession", "data": {"sessionToken": created.session_token, "sessionDurationMinutes": value}}
    )
    assert status == 400 and body["type"] == "UnexpectedError" and "sessionDurationMinutes" in body["details"]
    assert Session.objects.get(pk=created.session_id).expires_at == created.expires_at
