"""The compatibility proof without a server: every ErrorType, for every command, is
translated into a type of that command's union (read from the client's generated
types) and parses through the real client without ValueError."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from propelauth_byo import create_client
from propelauth_byo.generated import (
    create_device_challenge_error,
    create_session_error,
    create_stateless_token_error,
    fetch_all_sessions_error,
    fetch_all_sessions_for_user_error,
    fetch_session_by_id_error,
    get_jwks_error,
    invalidate_all_sessions_for_user_error,
    invalidate_all_sessions_for_user_except_one_error,
    invalidate_session_by_id_error,
    invalidate_session_by_token_error,
    ping_error,
    register_device_error,
    rotate_stateless_token_key_error,
    update_session_error,
    update_sessions_error,
    validate_and_refresh_session_error,
    validate_session_error,
)
from propelauth_byo.generated.sessions_filter import SessionsFilter
from propelauth_byo.result import err, is_err
from propelauth_byo.session_client import SessionClient

from byo_sessions.server.commands import COMMANDS
from byo_sessions.server.errors import to_wire
from byo_sessions.values import ErrorType, SessionError
from tests.server.conftest import run

UNIONS = {
    "CreateSession": create_session_error.CreateSessionError,
    "ValidateSession": validate_session_error.ValidateSessionError,
    "ValidateAndRefreshSession": validate_and_refresh_session_error.ValidateAndRefreshSessionError,
    "FetchAllSessionsForUser": fetch_all_sessions_for_user_error.FetchAllSessionsForUserError,
    "FetchAllSessions": fetch_all_sessions_error.FetchAllSessionsError,
    "FetchSessionById": fetch_session_by_id_error.FetchSessionByIdError,
    "UpdateSession": update_session_error.UpdateSessionError,
    "UpdateSessions": update_sessions_error.UpdateSessionsError,
    "InvalidateSessionById": invalidate_session_by_id_error.InvalidateSessionByIdError,
    "InvalidateSessionByToken": invalidate_session_by_token_error.InvalidateSessionByTokenError,
    "InvalidateAllSessionsForUser": invalidate_all_sessions_for_user_error.InvalidateAllSessionsForUserError,
    "InvalidateAllSessionsForUserExceptOne": invalidate_all_sessions_for_user_except_one_error.InvalidateAllSessionsForUserExceptOneError,
    "CreateDeviceChallenge": create_device_challenge_error.CreateDeviceChallengeError,
    "RegisterDevice": register_device_error.RegisterDeviceError,
    "CreateStatelessToken": create_stateless_token_error.CreateStatelessTokenError,
    "GetJwks": get_jwks_error.GetJwksError,
    "RotateStatelessTokenKey": rotate_stateless_token_key_error.RotateStatelessTokenKeyError,
    "Ping": ping_error.PingError,
}

# What our services put in details, all keys at once.
DETAILS = {
    "message": "m",
    "reason": "r",
    "tag": "org:x",
    "tag_names": ["org:x"],
    "current_count": 3,
    "max_allowed": 2,
    "device_challenge": "c",
    "expires_at": 1700000000,
}


def union_types(alias: Any) -> set[str]:
    members = typing.get_args(alias) if typing.get_origin(alias) is typing.Union else (alias,)
    return {name for cls in members for name in typing.get_args(typing.get_type_hints(cls)["type"])}


def call(command: str, answer: dict[str, Any]) -> Any:
    """Run the real client's method for ``command`` on a canned error answer."""
    expected = command

    async def request(command: str, data: Any = None) -> Any:
        assert command == expected
        return err(answer)

    session = SessionClient(request)
    client = create_client("http://unused", "k")
    client._request = request  # type: ignore[method-assign]
    calls = {
        "CreateSession": lambda: session.create(user_id="u"),
        "ValidateSession": lambda: session.validate(),
        "ValidateAndRefreshSession": lambda: session.validate_and_refresh(),
        "FetchAllSessionsForUser": lambda: session.fetch_all_for_user(user_id="u"),
        "FetchAllSessions": lambda: session.fetch_all(),
        "FetchSessionById": lambda: session.fetch_by_id(session_id="s"),
        "UpdateSession": lambda: session.update(session_id="s"),
        "UpdateSessions": lambda: session.update_many(filter=SessionsFilter()),
        "InvalidateSessionById": lambda: session.invalidate_by_id(session_id="s"),
        "InvalidateSessionByToken": lambda: session.invalidate_by_token(),
        "InvalidateAllSessionsForUser": lambda: session.invalidate_all_for_user(user_id="u"),
        "InvalidateAllSessionsForUserExceptOne": lambda: session.invalidate_all_for_user_except_one(
            user_id="u", session_token_to_keep="t"
        ),
        "CreateDeviceChallenge": lambda: session.device.create_challenge(),
        "RegisterDevice": lambda: session.device.register(signed_device_challenge="x", remember_device=True),
        "CreateStatelessToken": lambda: session.create_stateless_token(user_id="u"),
        "GetJwks": lambda: session.get_jwks(),
        "RotateStatelessTokenKey": lambda: session.rotate_stateless_token_key(1, 2),
        "Ping": lambda: client.ping(),
    }
    return run(calls[command]())


def test_every_implemented_command_is_covered():
    assert set(UNIONS) == set(COMMANDS)


def test_unions_are_read_from_the_client():
    assert union_types(UNIONS["CreateSession"]) == {
        "SessionLimitExceeded",
        "IpAddressError",
        "TagParseError",
        "InvalidDeviceRegistration",
        "UnexpectedError",
    }
    assert union_types(UNIONS["Ping"]) == {"UnexpectedError"}


@pytest.mark.parametrize("command", sorted(UNIONS))
@pytest.mark.parametrize("error_type", list(ErrorType))
def test_every_error_type_lands_in_the_union_and_parses(command, error_type):
    wire = to_wire(command, SessionError(error_type, dict(DETAILS)))
    assert wire.type in union_types(UNIONS[command])
    assert wire.status >= 400
    result = call(command, wire.body())  # ValueError here = incompatible
    assert is_err(result) and result.error.type == wire.type


@pytest.mark.parametrize(
    "command, error_type, wire_type, parsed",
    [
        ("ValidateSession", ErrorType.SESSION_EXPIRED, "InvalidSessionToken", "SessionExpired (r): m"),
        (
            "ValidateAndRefreshSession",
            ErrorType.TOKEN_REUSE_DETECTED,
            "InvalidSessionToken",
            "TokenReuseDetected (r): m",
        ),
        ("ValidateSession", ErrorType.MISSING_REQUIRED_TAGS, "InvalidSessionToken", "MissingRequiredTags (r): m"),
        ("ValidateSession", ErrorType.IP_ADDRESS_CHANGED, "IpAddressError", "IpAddressChanged (r): m"),
        ("CreateSession", ErrorType.IP_ADDRESS_NOT_ALLOWED, "IpAddressError", "IpAddressNotAllowed (r): m"),
        ("CreateSession", ErrorType.INVALID_METADATA, "UnexpectedError", "InvalidMetadata (r): m"),
        ("RegisterDevice", ErrorType.INVALID_IP_ADDRESS, "UnexpectedError", "InvalidIpAddress (r): m"),
    ],
)
def test_string_details_carry_our_type_and_reason(command, error_type, wire_type, parsed):
    result = call(command, to_wire(command, SessionError(error_type, dict(DETAILS))).body())
    assert result.error.type == wire_type and result.error.details == parsed


def test_structured_details_parse():
    def parsed(command: str, error_type: ErrorType) -> Any:
        return call(command, to_wire(command, SessionError(error_type, dict(DETAILS))).body()).error.details

    assert parsed("CreateSession", ErrorType.INVALID_TAG_FORMAT).invalid_tag_format == "org:x"
    assert parsed("UpdateSession", ErrorType.INVALID_TAG_FORMAT).invalid_tag_format == "org:x"
    assert parsed("UpdateSessions", ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS).tag_names == ["org:x"]
    limit = parsed("CreateSession", ErrorType.SESSION_LIMIT_EXCEEDED)
    assert (limit.current_count, limit.max_allowed) == (3, 2)
    challenge = parsed("ValidateSession", ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED)
    assert (challenge.device_challenge, challenge.expires_at) == ("c", 1700000000)
    assert parsed("RegisterDevice", ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED) is not None
