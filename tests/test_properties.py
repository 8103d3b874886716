"""Property tests: whatever arrives from outside, the answer is a typed error, never a crash."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from byo_sessions import ErrorType, is_err, sessions

pytestmark = pytest.mark.django_db
relaxed = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# What a WSGI server can deliver in a header: latin-1 text.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300)


@given(st.one_of(st.text(max_size=400), st.binary(max_size=80), st.integers(), st.none()))
@relaxed
def test_validate_answers_invalid_token_for_anything(value):
    result = sessions.validate(session_token=value)
    assert is_err(result) and result.error.type == ErrorType.INVALID_SESSION_TOKEN


@given(cookie=header_text, authorization=header_text)
@relaxed
def test_any_cookie_or_authorization_header_is_401_or_anonymous(db, cookie, authorization):
    client = Client(HTTP_AUTHORIZATION=authorization, HTTP_ACCEPT="application/json")
    client.cookies["session_token"] = cookie
    response = client.get("/protected/")
    assert response.status_code == 401
    assert response.json()["type"] == "InvalidSessionToken"


@given(dpop=header_text, forwarded=header_text)
@relaxed
def test_any_dpop_or_forwarded_header_never_breaks_a_request(user, settings, dpop, forwarded):
    settings.BYO_SESSIONS = {"PROXY_COUNT": 1}
    token = sessions.create(user_id=user.pk).data.session_token
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_DPOP=dpop,
        HTTP_X_FORWARDED_FOR=forwarded,
        HTTP_ACCEPT="application/json",
    )
    response = client.get("/device-api/")
    assert response.status_code in (401, 403, 425)
    assert response.json()["type"] in {
        "DeviceVerificationRequired",
        "DeviceVerificationFailed",
        "NewDeviceChallengeRequired",
        "IpAddressNotAllowed",
        "InvalidIpAddress",
    }
