"""Our ``ErrorType`` -> each command's error union on the wire.

The published clients raise ``ValueError`` on an error ``type`` outside the command's
union, so every service error is translated with one table per command (derived from
the client's ``generated/*_error.py``). Our own type and reason travel inside the
wire ``details`` (a string where the protocol types it as one) and, in full, in the
extra ``cause`` member that clients ignore. Anything a table does not name becomes
``UnexpectedError``, which every union accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import http
from ..values import DeviceChallenge, SessionError
from ..values import ErrorType as T

UNEXPECTED = "UnexpectedError"


@dataclass(frozen=True, slots=True)
class WireError:
    type: str
    details: Any
    status: int
    cause: SessionError | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "details": self.details}
        if self.cause is not None:  # our error as it is: {"type", "details"}
            body["cause"] = {"type": str(self.cause.type), "details": self.cause.details}
        return body


def describe(error: SessionError) -> str:
    """``"SessionExpired (expired_inactivity): The session has expired."``"""
    reason = error.details.get("reason")
    head = f"{error.type} ({reason})" if reason else str(error.type)
    return f"{head}: {error.message}"


Builder = Callable[[SessionError], WireError]


def _as_string(wire_type: str, status: int) -> Builder:
    return lambda e: WireError(wire_type, describe(e), status, e)


def _tag_error(wire_type: str) -> Builder:
    return lambda e: WireError(wire_type, {"InvalidTagFormat": str(e.details.get("tag", ""))}, 400, e)


def _challenge(e: SessionError) -> WireError:
    # The BYO protocol carries the challenge as the error's details (the clients parse
    # them), where our HTTP edge puts it beside our own details (http.error_body).
    return WireError("NewDeviceChallengeRequired", DeviceChallenge.carried_by(e).as_json(), 425, e)


def _create_only(e: SessionError) -> WireError:
    names = list(e.details.get("tag_names", []))
    # The Python client reads tagNames; the generated types spell it tag_names: send both.
    return WireError("CannotModifyOnCreateOnlyTags", {"tagNames": names, "tag_names": names}, 400, e)


def _limit(e: SessionError) -> WireError:
    details = {"currentCount": e.details.get("current_count"), "maxAllowed": e.details.get("max_allowed")}
    return WireError("SessionLimitExceeded", details, 429, e)


def unexpected(e: SessionError) -> WireError:
    """A service error outside the union: the status says whose fault it is."""
    return WireError(UNEXPECTED, describe(e), http.status_for(e), e)


_INVALID_TOKEN = _as_string("InvalidSessionToken", 401)
_IP = _as_string("IpAddressError", 403)
_NOT_FOUND = _as_string("SessionNotFound", 404)
_BAD_REGISTRATION = _as_string("InvalidDeviceRegistration", 400)

_VALIDATE: dict[T, Builder] = {
    T.INVALID_SESSION_TOKEN: _INVALID_TOKEN,
    T.SESSION_EXPIRED: _INVALID_TOKEN,
    T.SESSION_INVALIDATED: _INVALID_TOKEN,
    T.USER_INACTIVE: _INVALID_TOKEN,
    T.TOKEN_REUSE_DETECTED: _INVALID_TOKEN,
    T.USER_AGENT_CHANGED: _INVALID_TOKEN,
    T.MISSING_REQUIRED_TAGS: _INVALID_TOKEN,
    T.IP_ADDRESS_NOT_ALLOWED: _IP,
    T.IP_ADDRESS_CHANGED: _IP,
    T.INVALID_IP_ADDRESS: _IP,
    T.NEW_DEVICE_CHALLENGE_REQUIRED: _challenge,
    T.DEVICE_VERIFICATION_REQUIRED: _as_string("DeviceVerificationRequired", 401),
    T.DEVICE_VERIFICATION_FAILED: _as_string("DeviceVerificationFailed", 401),
}

_UPDATE: dict[T, Builder] = {
    T.SESSION_NOT_FOUND: _NOT_FOUND,
    T.CONFLICTING_METADATA_OPTIONS: _as_string("ConflictingMetadataOptions", 400),
    T.INVALID_TAG_FORMAT: _tag_error("InvalidTagFormat"),
    T.CANNOT_MODIFY_CREATE_ONLY_TAGS: _create_only,
}


def _rotation_failed(e: SessionError) -> WireError:
    """A concurrent rotation won the race: 409 ``RotationFailed``. The key store being
    unreachable (``key_store_unavailable``) is no conflict: 503 ``UnexpectedError``."""
    if e.details.get("reason") == "concurrent_rotation":
        return WireError("RotationFailed", describe(e), 409, e)
    return unexpected(e)


def _probe(error_type: T) -> SessionError:
    return SessionError(error_type)


TABLES: dict[str, dict[T, Builder]] = {
    "CreateSession": {
        T.SESSION_LIMIT_EXCEEDED: _limit,
        T.IP_ADDRESS_NOT_ALLOWED: _IP,
        T.INVALID_IP_ADDRESS: _IP,
        T.INVALID_TAG_FORMAT: _tag_error("TagParseError"),
        T.INVALID_DEVICE_REGISTRATION: _BAD_REGISTRATION,
        T.NEW_DEVICE_CHALLENGE_REQUIRED: _BAD_REGISTRATION,  # not in CreateSession's union: sign a fresh one
    },
    "ValidateSession": _VALIDATE,
    "ValidateAndRefreshSession": _VALIDATE,
    "FetchSessionById": {T.SESSION_NOT_FOUND: _NOT_FOUND},
    "UpdateSession": _UPDATE,
    "UpdateSessions": {
        **{k: v for k, v in _UPDATE.items() if k != T.SESSION_NOT_FOUND},
        T.UPDATING_TOO_MANY_SESSIONS: _as_string("UpdatingTooManySessionsAtOnce", 400),
    },
    "InvalidateSessionById": {T.SESSION_NOT_FOUND: _NOT_FOUND, T.UNKNOWN_USER: _NOT_FOUND},
    "RegisterDevice": {
        T.SESSION_NOT_FOUND: _NOT_FOUND,
        T.NEW_DEVICE_CHALLENGE_REQUIRED: _challenge,
        T.INVALID_DEVICE_REGISTRATION: _BAD_REGISTRATION,
        T.DEVICE_ALREADY_REGISTERED: _as_string("DeviceAlreadyRegistered", 409),
    },
    # A session that is not valid now, an unknown or inactive user, a bad parameter: the
    # token cannot be made. The status is our type's (401 for a dead session, 400, ...).
    "CreateStatelessToken": {
        t: _as_string("TokenCreationFailed", http.status_for(_probe(t))) for t in T if t != T.UNEXPECTED_ERROR
    },
    "RotateStatelessTokenKey": {
        T.INVALID_PARAMETERS: _as_string("InvalidParameters", 400),
        T.UNEXPECTED_ERROR: _rotation_failed,
    },
    # GetJwks, FetchAllSessionsForUser, FetchAllSessions, InvalidateSessionByToken,
    # InvalidateAllSessionsForUser(ExceptOne), CreateDeviceChallenge, Ping: UnexpectedError only.
}


def to_wire(command: str, error: SessionError) -> WireError:
    builder = TABLES.get(command, {}).get(error.type, unexpected)
    return builder(error)


def bad_request(message: str) -> WireError:
    """Malformed JSON, a missing or wrong-typed field: the caller's bug, answered 400."""
    return WireError(UNEXPECTED, f"InvalidRequest: {message}", 400)
