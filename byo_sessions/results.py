"""``Ok`` / ``Err`` results, shaped like the BYO-style clients' results.

Service functions return ``Ok(data)`` or ``Err(SessionError)`` instead of raising for
expected outcomes (an expired session is not exceptional). ``error.type`` is one of
``ErrorType``: a closed, documented set (``docs/api.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeGuard, TypeVar

T = TypeVar("T")


class ErrorType(StrEnum):
    INVALID_SESSION_TOKEN = "InvalidSessionToken"
    SESSION_EXPIRED = "SessionExpired"
    SESSION_INVALIDATED = "SessionInvalidated"
    SESSION_NOT_FOUND = "SessionNotFound"
    USER_INACTIVE = "UserInactive"
    TOKEN_REUSE_DETECTED = "TokenReuseDetected"
    IP_ADDRESS_NOT_ALLOWED = "IpAddressNotAllowed"
    IP_ADDRESS_CHANGED = "IpAddressChanged"
    INVALID_IP_ADDRESS = "InvalidIpAddress"
    USER_AGENT_CHANGED = "UserAgentChanged"
    MISSING_REQUIRED_TAGS = "MissingRequiredTags"
    SESSION_LIMIT_EXCEEDED = "SessionLimitExceeded"
    INVALID_TAG_FORMAT = "InvalidTagFormat"
    CANNOT_MODIFY_CREATE_ONLY_TAGS = "CannotModifyOnCreateOnlyTags"
    CONFLICTING_METADATA_OPTIONS = "ConflictingMetadataOptions"
    INVALID_METADATA = "InvalidMetadata"
    NEW_DEVICE_CHALLENGE_REQUIRED = "NewDeviceChallengeRequired"
    DEVICE_VERIFICATION_REQUIRED = "DeviceVerificationRequired"
    DEVICE_VERIFICATION_FAILED = "DeviceVerificationFailed"
    INVALID_DEVICE_REGISTRATION = "InvalidDeviceRegistration"
    DEVICE_ALREADY_REGISTERED = "DeviceAlreadyRegistered"
    UNKNOWN_USER = "UnknownUser"
    UPDATING_TOO_MANY_SESSIONS = "UpdatingTooManySessionsAtOnce"
    INVALID_PARAMETERS = "InvalidParameters"
    INVALID_STATELESS_TOKEN = "InvalidStatelessToken"
    UNEXPECTED_ERROR = "UnexpectedError"


@dataclass(frozen=True, slots=True)
class SessionError:
    type: ErrorType
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(self.details.get("message", self.type))


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    data: T


@dataclass(frozen=True, slots=True)
class Err:
    error: SessionError


Result = Ok[T] | Err


def is_ok(result: Ok[T] | Err) -> TypeGuard[Ok[T]]:
    return isinstance(result, Ok)


def is_err(result: Ok[Any] | Err) -> TypeGuard[Err]:
    return isinstance(result, Err)


def err(type_: ErrorType, message: str, **details: Any) -> Err:
    """Build an ``Err`` whose details always carry a human ``message``."""
    return Err(SessionError(type_, {"message": message, **details}))
