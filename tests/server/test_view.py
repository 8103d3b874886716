"""The run-command view over raw HTTP (Django's test client): keys, parsing, dispatch."""

from __future__ import annotations

import json

import pytest

from byo_sessions.checks import check_settings
from byo_sessions.models import Session
from byo_sessions.server import commands
from byo_sessions.server.integration_keys import KEY_PREFIX, check_authorization, key_digest, new_key
from tests.server.conftest import IP, KEY, OTHER_KEY, UA, configure

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.server.urls")]


def test_ping_and_create_over_raw_http(post, clock):
    status, body = post({"command": "Ping"})
    assert (status, body) == (200, {"timestamp": int(clock.now().timestamp())})
    status, body = post({"command": "CreateSession", "data": {"userId": "u1", "ipAddress": IP, "userAgent": UA}})
    assert status == 200 and body["sessionId"].startswith("ses_") and body["sessionToken"].startswith("byo_s_")
    assert body["expiresAt"] == int(clock.now().timestamp()) + 14 * 24 * 3600
    assert "newDeviceDetected" not in body  # no device was offered
    assert Session.objects.get(pk=body["sessionId"]).external_user_id == "u1"
    assert post.last["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "auth, expected",
    [
        (None, "NoIntegrationKeyFoundInHeader"),
        ("Basic abc", "NoIntegrationKeyFoundInHeader"),
        ("Bearer ", "NoIntegrationKeyFoundInHeader"),
        ("Bearer sk_live_abc", "InvalidPrefix"),
        (f"Bearer {OTHER_KEY}", "IntegrationKeyNotFound"),
        (f"Bearer {KEY}x", "IntegrationKeyNotFound"),
    ],
)
def test_integration_key_errors(post, auth, expected):
    status, body = post({"command": "Ping"}, key=None, auth=auth)
    assert status == 401 and body["type"] == expected and isinstance(body["details"], str)


def test_key_check_runs_before_parsing(post):
    assert post("{not json", key=OTHER_KEY, raw=True)[1]["type"] == "IntegrationKeyNotFound"
    assert post({"command": "CreateSession", "data": {"userId": "u1"}}, key=OTHER_KEY)[0] == 401
    assert Session.objects.count() == 0


def test_no_configured_key_accepts_nothing(post, settings):
    configure(settings, SERVER_INTEGRATION_KEYS=[])
    assert post({"command": "Ping"})[1]["type"] == "IntegrationKeyNotFound"


def test_several_keys_and_uppercase_digest(post, settings):
    other_key, other_digest = new_key()
    configure(settings, SERVER_INTEGRATION_KEYS=[other_digest.upper(), key_digest(KEY)])
    assert post({"command": "Ping"})[0] == 200
    assert post({"command": "Ping"}, key=other_key)[0] == 200


def test_new_key_format():
    key, digest = new_key()
    assert key.startswith(KEY_PREFIX) and len(key) > 40 and digest == key_digest(key)
    assert new_key()[0] != key
    assert check_authorization(f"bearer {KEY}") is None  # the scheme is case-insensitive


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ("{not json", "not JSON"),
        ("\xff", "not JSON"),
        ("[]", "command"),
        ('{"data": {}}', "command"),
        ('{"command": 7}', "command"),
        ('{"command": "Ping", "data": []}', "data must be a JSON object"),
        ('{"command": "CreateSession", "data": {}}', "data.userId is required"),
        ('{"command": "CreateSession", "data": {"userId": 5}}', "data.userId must be a string"),
        ('{"command": "CreateSession", "data": {"userId": "u", "tags": "org:a"}}', "data.tags must be a list"),
        ('{"command": "CreateSession", "data": {"userId": "u", "tags": [1]}}', "data.tags must be a list"),
        (
            '{"command": "CreateSession", "data": {"userId": "u", "deviceRegistration": "x"}}',
            "data.deviceRegistration must be a JSON object",
        ),
        (
            '{"command": "CreateSession", "data": {"userId": "u", "deviceRegistration": {}}}',
            "data.deviceRegistration.signedDeviceChallenge is required",
        ),
        ('{"command": "ValidateSession", "data": {"sessionToken": 1}}', "data.sessionToken must be a string"),
        ('{"command": "ValidateSession", "data": {"ignoreDeviceForVerification": "yes"}}', "true or false"),
        ('{"command": "FetchAllSessions", "data": {"page": -1}}', "data.page must be an integer"),
        ('{"command": "FetchAllSessions", "data": {"page": 1.5}}', "data.page must be an integer"),
        ('{"command": "FetchAllSessions", "data": {"page": true}}', "data.page must be an integer"),
        ('{"command": "FetchAllSessions", "data": {"page": 100000000000000000000}}', "data.page must be an integer"),
        ('{"command": "UpdateSessions", "data": {}}', "data.filter is required"),
        ('{"command": "UpdateSessions", "data": {"filter": {"userId": 3}}}', "data.filter.userId must be a string"),
        ('{"command": "RegisterDevice", "data": {"signedDeviceChallenge": "x"}}', "data.rememberDevice is required"),
    ],
)
def test_malformed_requests_are_typed_400s(post, payload, fragment):
    status, body = post(payload, raw=True)
    assert status == 400 and body["type"] == "UnexpectedError"
    assert body["details"].startswith("InvalidRequest: ") and fragment in body["details"]


def test_missing_data_means_empty_object(post):
    assert post({"command": "Ping", "data": None})[0] == 200
    assert post({"command": "FetchAllSessions"})[1]["totalCount"] == 0


def test_unknown_and_unoffered_commands(post):
    status, body = post({"command": "MakeCoffee", "data": {}})
    assert status == 400 and body == {
        "type": "UnexpectedError",
        "details": "UnknownCommand: 'MakeCoffee' is not a command.",
    }
    for name in (
        "StartPasskeyRegistration",
        "ValidateApiKey",
        "ScimRequest",
        "InitiateOidcLogin",
        "CreateImpersonationSession",
    ):
        status, body = post({"command": name, "data": {}})
        assert status == 501 and body["type"] == "UnexpectedError"
        assert body["details"] == f"CommandNotAvailable: {name} is not available in byo-sessions."


def test_not_offered_lists_every_other_protocol_command():
    from propelauth_byo.generated import command

    protocol = {
        cls.command for name, cls in vars(command).items() if name.startswith("Command") and hasattr(cls, "command")
    }
    assert len(protocol) > 50
    assert protocol == set(commands.COMMANDS) | commands.NOT_OFFERED
    assert not set(commands.COMMANDS) & commands.NOT_OFFERED


def test_get_is_refused_with_json(post):
    status, body = post({"command": "Ping"}, method="get")
    assert status == 405 and body["type"] == "UnexpectedError" and post.last["Allow"] == "POST"


def test_csrf_exempt_without_a_bearer_header(post):
    # Without csrf_exempt, CsrfViewMiddleware would answer 403 (HTML) before the view.
    status, body = post({"command": "Ping"}, key=None)
    assert status == 401 and body["type"] == "NoIntegrationKeyFoundInHeader"


def test_session_middleware_ignores_the_integration_key(post):
    post({"command": "Ping"})
    request = post.last.wsgi_request
    assert request.byo_session is None and request.byo_session_error is None


def test_database_error_is_a_typed_503(post, monkeypatch):
    from django.db import DatabaseError

    def broken(**kwargs):
        raise DatabaseError("down")

    monkeypatch.setattr("byo_sessions.services.sessions.fetch_by_id", broken)
    status, body = post({"command": "FetchSessionById", "data": {"sessionId": "ses_x"}})
    assert status == 503 and body["type"] == "UnexpectedError" and body["details"].startswith("DatabaseError")


def test_a_bug_is_a_typed_500_without_internals(post, monkeypatch):
    monkeypatch.setattr("byo_sessions.services.sessions.fetch_by_id", lambda **kw: 1 / 0)
    status, body = post({"command": "FetchSessionById", "data": {"sessionId": "ses_x"}})
    assert status == 500 and body == {
        "type": "UnexpectedError",
        "details": "InternalError: the command failed; see the server log.",
    }


def test_too_large_body_is_a_typed_413(post, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    status, body = post({"command": "Ping", "data": {"pad": "x" * 2000}})
    assert status == 413 and body["type"] == "UnexpectedError"


def test_errors_carry_our_cause(post):
    status, body = post({"command": "ValidateSession", "data": {"sessionToken": "byo_s_" + "A" * 43}})
    assert status == 401 and body["type"] == "InvalidSessionToken"
    assert body["details"] == "InvalidSessionToken (unknown_token): The session token is not recognised."
    assert body["cause"]["type"] == "InvalidSessionToken" and body["cause"]["details"]["reason"] == "unknown_token"


@pytest.mark.parametrize(
    "value, ok",
    [
        ([], True),
        ([key_digest("x")], True),
        ([KEY], False),  # a key, not a digest
        ([key_digest("x").upper()], False),
        ("abc", False),
        ([1], False),
    ],
)
def test_system_check_for_integration_keys(settings, value, ok):
    configure(settings, SERVER_INTEGRATION_KEYS=value)
    ids = [e.id for e in check_settings()]
    assert ("byo_sessions.E013" not in ids) is ok


def test_management_command_prints_a_matching_pair():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("byo_integration_key", stdout=out)
    lines = out.getvalue().splitlines()
    key, digest = lines[0].rsplit(" ", 1)[1], lines[1].rsplit(" ", 1)[1]
    assert key.startswith(KEY_PREFIX) and key_digest(key) == digest
    assert json.dumps(digest)  # printable, pasteable


def test_session_info_device_display_name(post):
    token = post({"command": "CreateSession", "data": {"userId": "u1", "userAgent": UA}})[1]["sessionId"]
    device = post({"command": "FetchSessionById", "data": {"sessionId": token}})[1]["device"]
    assert device == {
        "displayName": "Chrome 131 on Linux",
        "deviceType": "Desktop",
        "browser": "Chrome",
        "browserVersion": "131.0.0",
        "os": "Linux",
    }


def test_bot_device_type_is_unknown_on_the_wire(post):
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    sid = post({"command": "CreateSession", "data": {"userId": "u1", "userAgent": bot}})[1]["sessionId"]
    assert Session.objects.get(pk=sid).client["device_type"] == "Bot"
    assert post({"command": "FetchSessionById", "data": {"sessionId": sid}})[1]["device"]["deviceType"] == "Unknown"
