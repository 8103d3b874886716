"""The value types: what the service layer returns and takes, and what the edge passes down.

Plain frozen dataclasses and enums with no Django import, so every layer (and a client
of the package) can use them. Service functions return ``Ok(data)`` or
``Err(SessionError)`` instead of raising for expected outcomes (an expired session is
not exceptional), shaped like the BYO-style clients' results; ``error.type`` is one of
``ErrorType``, a closed, documented set (``docs/api.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeGuard, TypeVar, get_args

T = TypeVar("T")


# --- results ----------------------------------------------------------------------------


class ErrorType(StrEnum):
    INVALID_SESSION_TOKEN = "InvalidSessionToken"
    SESSION_EXPIRED = "SessionExpired"
    SESSION_INVALIDATED = "SessionInvalidated"
    SESSION_NOT_FOUND = "SessionNotFound"
    DEVICE_NOT_FOUND = "DeviceNotFound"
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
    REAUTHENTICATION_REQUIRED = "ReauthenticationRequired"
    REAUTHENTICATION_FAILED = "ReauthenticationFailed"
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


# --- inputs (what callers and the edge pass down) --------------------------------------

AthRule = Literal["if_present", "required", "ignored"]
_ATH_RULES = get_args(AthRule)  # checked for every proof (``DeviceVerification``)


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """A signed device challenge presented at login (``create``) or with ``device.register``."""

    signed_device_challenge: str
    remember_device: bool = True
    request_url: str | None = None
    request_method: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceVerification:
    """A fresh device proof presented with a request (``validate``)."""

    signed_device_challenge: str
    request_url: str | None = None
    request_method: str | None = None
    # RFC 9449 ``ath`` (the hash of the token the proof travels with) against the session
    # token passed to ``validate``: "if_present" (checked when the proof has one),
    # "required" (a Bearer request: §4.2 makes it mandatory with an access token), or
    # "ignored" (the token came from a cookie; an Authorization header, if any, carries
    # another token, e.g. a stateless JWT, whose ``ath`` is not ours to check).
    ath_rule: AthRule = "if_present"

    def __post_init__(self) -> None:
        if self.ath_rule not in _ATH_RULES:  # a typo must not quietly relax the check
            raise ValueError(f"ath_rule must be one of {_ATH_RULES}, not {self.ath_rule!r}")


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client behind a request, as the services need it: built once at the edge
    (``http.client_info``), so no service sees an ``HttpRequest`` and the store, DRF and
    the session server describe a client alike. ``ip_address`` follows the proxy settings."""

    ip_address: str | None = None
    user_agent: str | None = None
    device_verification: DeviceVerification | None = None  # the request's ``DPoP`` proof, if sent


@dataclass(frozen=True, slots=True)
class ViewRules:
    """What the view being served asks of device proofs (``decorators`` or view attributes):
    none at all, or one on every request whatever the policy says."""

    ignore_device: bool = False
    device_required: bool = False


@dataclass(frozen=True, slots=True)
class LoginOptions:
    """What the session engine's next user session is created with (``byo_sessions.login``
    or the adapter's ``login_options``, ``byo_sessions.adapter``)."""

    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    device_registration: DeviceRegistration | None = None
    # The factors the login checked ("password", "totp", ...); None: derived from the
    # authentication backend (``services/reauthentication.factors_for_backend``).
    authentication_factors: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """The session token a request brought, and how (``http.presented_token``)."""

    # repr=False: a repr lands in logs, tracebacks and error reports; the raw token must not.
    value: str = field(repr=False)
    transport: str  # "cookie" | "bearer"


# --- outputs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session_id: str
    session_token: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    user_id: Any
    new_device_detected: bool = False
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class ValidatedSession:
    session_id: str
    user_id: Any  # the Django user's pk, or the caller's string id (session server)
    created_at: datetime
    expires_at: datetime  # the earlier of absolute and inactivity expiry
    last_activity_at: datetime
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    has_device_registered: bool
    device_id: str | None = None
    new_session_token: str | None = field(default=None, repr=False)
    user: Any = field(default=None, repr=False, compare=False)  # the Django user, already loaded
    absolute_expires_at: datetime | None = None  # the hard end; what a persistent cookie's Max-Age follows
    extended: bool = False  # this validation moved absolute_expires_at later (session_duration_minutes, sliding)
    # ``request.session``'s data as stored (serialised); read by the session engine only.
    session_data: str = field(default="", repr=False, compare=False)

    @property
    def is_anonymous(self) -> bool:
        """A visitor's data-only session (no owner): what Django's session framework stores
        for someone who is not logged in."""
        return self.user_id is None


@dataclass(frozen=True, slots=True)
class Authentication:
    """How and when a session's user last proved who they are (Stytch's
    ``authentication_factors``): each factor with its latest time, and the latest of all."""

    authenticated_at: datetime | None
    factors: dict[str, datetime]

    def age_secs(self, now: datetime, *, factors: frozenset[str] | None = None) -> float | None:
        """Seconds since the latest authentication by one of ``factors`` (any when None);
        None when there was none."""
        times = [at for factor, at in self.factors.items() if factors is None or factor in factors]
        if factors is None and self.authenticated_at is not None:
            times.append(self.authenticated_at)
        return (now - max(times)).total_seconds() if times else None


@dataclass(frozen=True, slots=True)
class ClientDevice:
    """What the User-Agent says about the browser (BYO's ``device`` object)."""

    display_name: str
    device_type: str
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None


@dataclass(frozen=True, slots=True)
class Location:
    """Where an IP address is (``services/geo.py``); empty strings where the database has no answer."""

    country: str = ""  # ISO 3166-1 alpha-2, e.g. "DE"
    city: str = ""
    network: str = ""  # the autonomous system's organisation, e.g. "Deutsche Telekom AG"

    def __bool__(self) -> bool:
        return bool(self.country or self.city or self.network)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    user_id: Any
    created_at: datetime
    expires_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    end_reason: str
    ip_address: str | None
    last_ip_address: str | None
    device: ClientDevice
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    has_device_registered: bool
    location: Location = Location()  # of ``last_ip_address``

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class DeviceChallenge:
    """A short-lived device challenge bound to an IP and User-Agent (``device.create_challenge``);
    a ``NewDeviceChallengeRequired`` error carries a fresh one in its details."""

    device_challenge: str
    expires_at: int  # Unix seconds

    @classmethod
    def carried_by(cls, error: SessionError) -> DeviceChallenge:
        """The challenge in a ``NewDeviceChallengeRequired`` error's details (``services.devices``
        puts it there; read as is, so a hand-made error without one answers nulls)."""
        challenge: Any = error.details.get("device_challenge")
        expires_at: Any = error.details.get("expires_at")
        return cls(device_challenge=challenge, expires_at=expires_at)

    def as_json(self) -> dict[str, Any]:
        """``{"deviceChallenge", "expiresAt"}``: the members ``device.js`` and the BYO clients read."""
        return {"deviceChallenge": self.device_challenge, "expiresAt": self.expires_at}


@dataclass(frozen=True, slots=True)
class StatelessToken:
    """A signed stateless token (``create_stateless_token``) and what it says."""

    stateless_token: str = field(repr=False)
    expires_at: datetime
    key_id: str
    jti: str
    claims: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """The outcome of ``rotate_stateless_token_key``."""

    new_key_id: str
    new_key_becomes_default_at: datetime
    existing_keys_expire_at: datetime
