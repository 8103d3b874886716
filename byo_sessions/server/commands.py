"""One small function per command: wire JSON (camelCase) -> service call -> wire JSON.

A handler returns the success body (a dict), an ``Err`` from the services (translated
per command by ``errors.to_wire``) or a ready ``WireError``. Users are the caller's own
string ids (``external_user_id``); times are Unix seconds, as the clients parse them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..core import clock
from ..services import devices, signing_keys, stateless
from ..services import sessions as svc
from ..values import ClientDevice, Err, SessionInfo, ValidatedSession
from . import bulk
from .errors import WireError
from .fields import BadRequest, Fields

Reply = dict[str, Any] | Err | WireError
Handler = Callable[[Fields], Reply]

ACTOR = "byo-server"
WIRE_DEVICE_TYPES = frozenset({"Desktop", "Mobile", "Tablet", "Unknown"})  # generated/device_type.py
MAX_PAGE = 10**9


# --- wire shapes ------------------------------------------------------------------------


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    """Optional members are left out rather than sent as null (as the clients send them)."""
    return {k: v for k, v in values.items() if v is not None}


def device_body(device: ClientDevice) -> dict[str, Any]:
    return _compact(
        {
            "displayName": device.display_name,
            "deviceType": device.device_type if device.device_type in WIRE_DEVICE_TYPES else "Unknown",
            "browser": device.browser,
            "browserVersion": device.browser_version,
            "os": device.os,
            "osVersion": device.os_version,
        }
    )


def session_info_body(info: SessionInfo) -> dict[str, Any]:
    """The protocol's SessionInfo, plus userId, hasDeviceRegistered and (once ended)
    endedAt/endReason, which the clients ignore."""
    return _compact(
        {
            "sessionId": info.session_id,
            "createdAt": unix(info.created_at),
            "expiresAt": unix(info.expires_at),
            "lastActivityAt": unix(info.last_activity_at),
            "device": device_body(info.device),
            "ipAddress": info.last_ip_address or info.ip_address,
            "sessionTags": list(info.tags),
            "metadata": info.metadata,
            "userId": str(info.user_id),
            "hasDeviceRegistered": info.has_device_registered,
            "endedAt": unix(info.ended_at) if info.ended_at else None,
            "endReason": info.end_reason or None,
        }
    )


def validated_body(session: ValidatedSession) -> dict[str, Any]:
    return _compact(
        {
            "sessionId": session.session_id,
            "userId": str(session.user_id),
            "createdAt": unix(session.created_at),
            "expiresAt": unix(session.expires_at),
            "hasDeviceRegistered": session.has_device_registered,
            "tags": list(session.tags),
            "metadata": session.metadata,
            "newSessionToken": session.new_session_token,
        }
    )


# --- sessions ---------------------------------------------------------------------------


def create_session(f: Fields) -> Reply:
    registration = f.device_registration("deviceRegistration")
    result = svc.create(
        external_user_id=f.req_text("userId"),
        tags=f.texts("tags"),
        user_agent=f.text("userAgent"),
        ip_address=f.text("ipAddress"),
        metadata=f.json("metadata"),
        device_registration=registration,
        actor=ACTOR,
    )
    if isinstance(result, Err):
        return result
    created = result.data
    return _compact(
        {
            "sessionId": created.session_id,
            "sessionToken": created.session_token,
            "expiresAt": unix(created.expires_at),
            "newDeviceDetected": created.new_device_detected if registration is not None else None,
        }
    )


def _validate(f: Fields, *, refresh: bool) -> Reply:
    """``sessionDurationMinutes`` is ours (optional; the published clients never send it): it
    extends the session as the service's ``session_duration_minutes`` does, and ``expiresAt``
    answers the new end. Out of range it is a bad request, since ``InvalidParameters`` is
    not in the validate commands' error union."""
    check = svc.validate_and_refresh if refresh else svc.validate
    minutes = f.number("sessionDurationMinutes", maximum=svc.MAX_SESSION_DURATION_MINUTES)
    if minutes == 0:
        raise BadRequest(
            f"{f.where}.sessionDurationMinutes must be an integer from 1 to {svc.MAX_SESSION_DURATION_MINUTES}."
        )
    result = check(
        session_token=f.text("sessionToken"),
        user_agent=f.text("userAgent"),
        ip_address=f.text("ipAddress"),
        required_tags=f.texts("requiredTags"),
        device_verification=f.device_verification("deviceVerification"),
        ignore_device_for_verification=bool(f.flag("ignoreDeviceForVerification")),
        session_duration_minutes=minutes,
    )
    return result if isinstance(result, Err) else validated_body(result.data)


def validate_session(f: Fields) -> Reply:
    return _validate(f, refresh=False)


def validate_and_refresh_session(f: Fields) -> Reply:
    return _validate(f, refresh=True)


def fetch_all_sessions_for_user(f: Fields) -> Reply:
    result = svc.fetch_all_for_user(external_user_id=f.req_text("userId"), session_tags=f.texts("sessionTags"))
    if isinstance(result, Err):
        return result
    return {"sessions": [session_info_body(info) for info in result.data]}


def fetch_all_sessions(f: Fields) -> Reply:
    page = bulk.fetch_page(
        external_user_id=f.text("userId"),
        session_tags=f.texts("sessionTags"),
        page=f.number("page", maximum=MAX_PAGE) or 0,
    )
    if isinstance(page, Err):
        return page
    return {
        "items": [session_info_body(info) for info in page.items],
        "page": page.page,
        "pageSize": page.page_size,
        "totalCount": page.total_count,
        "hasMoreResults": page.has_more_results,
    }


def fetch_session_by_id(f: Fields) -> Reply:
    result = svc.fetch_by_id(session_id=f.req_text("sessionId"))
    return result if isinstance(result, Err) else session_info_body(result.data)


def update_session(f: Fields) -> Reply:
    result = svc.update(
        session_id=f.req_text("sessionId"),
        tags_to_add=f.texts("tagsToAdd"),
        tags_to_remove=f.texts("tagsToRemove"),
        new_metadata=f.json("newMetadata"),
        patch_metadata=f.json("patchMetadata"),
        actor=ACTOR,
    )
    return result if isinstance(result, Err) else {}


def update_sessions(f: Fields) -> Reply:
    where = f.req_obj("filter")
    selected = bulk.live_sessions(where.text("userId"), where.texts("sessionTags"))
    if isinstance(selected, Err):
        return selected
    result = svc.update_many(
        queryset=selected,
        max_count=bulk.MAX_SESSIONS_PER_UPDATE,
        tags_to_add=f.texts("tagsToAdd"),
        tags_to_remove=f.texts("tagsToRemove"),
        new_metadata=f.json("newMetadata"),
        patch_metadata=f.json("patchMetadata"),
        actor=ACTOR,
    )
    return result if isinstance(result, Err) else {"updatedCount": result.data}


def invalidate_session_by_id(f: Fields) -> Reply:
    result = svc.invalidate_by_id(session_id=f.req_text("sessionId"), external_user_id=f.text("userId"), actor=ACTOR)
    return result if isinstance(result, Err) else {}


def invalidate_session_by_token(f: Fields) -> Reply:
    svc.invalidate_by_token(session_token=f.text("sessionToken"), actor=ACTOR)  # never an Err
    return {}


def invalidate_all_sessions_for_user(f: Fields) -> Reply:
    result = svc.invalidate_all_for_user(
        external_user_id=f.req_text("userId"), session_tags=f.texts("sessionTags"), actor=ACTOR
    )
    return result if isinstance(result, Err) else {"sessionsInvalidated": result.data}


def invalidate_all_sessions_for_user_except_one(f: Fields) -> Reply:
    result = svc.invalidate_all_for_user_except_one(
        external_user_id=f.req_text("userId"),
        session_token_to_keep=f.req_text("sessionTokenToKeep"),
        session_tags=f.texts("sessionTags"),
        actor=ACTOR,
    )
    return result if isinstance(result, Err) else {"sessionsInvalidated": result.data}


# --- devices and ping -------------------------------------------------------------------


def create_device_challenge(f: Fields) -> Reply:
    result = devices.create_challenge(ip_address=f.text("ipAddress"), user_agent=f.text("userAgent"))
    if isinstance(result, Err):
        return result
    return result.data.as_json()


def register_device(f: Fields) -> Reply:
    remember = f.flag("rememberDevice", required=True)
    result = devices.register(
        signed_device_challenge=f.req_text("signedDeviceChallenge"),
        remember_device=bool(remember),
        session_token=f.text("sessionToken"),
        session_id=f.text("sessionId"),
        request_url=f.text("requestUrl"),
        request_method=f.text("requestMethod"),
        ip_address=f.text("ipAddress"),
        user_agent=f.text("userAgent"),
    )
    return result if isinstance(result, Err) else {"newDeviceDetected": result.data}


# --- stateless tokens -------------------------------------------------------------------


def create_stateless_token(f: Fields) -> Reply:
    """Numbers and claims go to the service as sent: it answers a wrong value with a
    typed error (``TokenCreationFailed``) rather than a bare 400."""
    result = stateless.create_stateless_token(
        external_user_id=f.req_text("userId"),
        session_id=f.text("sessionId"),
        custom_claims=f.json("customClaims"),
        issuer=f.text("issuer"),
        audience=f.text("audience"),
        not_before_unixtime=f.json("notBeforeUnixtime"),
        lifetime_secs=f.json("lifetimeSecs"),
        actor=ACTOR,
    )
    if isinstance(result, Err):
        return result
    return {"statelessToken": result.data.stateless_token, "expiresAt": unix(result.data.expires_at)}


def get_jwks(f: Fields) -> Reply:
    result = signing_keys.get_jwks()
    return result if isinstance(result, Err) else result.data


def _required(f: Fields, name: str) -> Any:
    value = f.json(name)
    if value is None:
        raise BadRequest(f"{f.where}.{name} is required.")
    return value


def rotate_stateless_token_key(f: Fields) -> Reply:
    result = signing_keys.rotate_stateless_token_key(
        secs_before_new_key_becomes_default=_required(f, "secsBeforeNewKeyBecomesDefault"),
        secs_before_existing_keys_are_deactivated=_required(f, "secsBeforeExistingKeysAreDeactivated"),
        actor=ACTOR,
    )
    if isinstance(result, Err):
        return result
    rotation = result.data
    return {
        "newKeyId": rotation.new_key_id,
        "newKeyBecomesDefaultAt": unix(rotation.new_key_becomes_default_at),
        "existingKeysExpireAt": unix(rotation.existing_keys_expire_at),
    }


def ping(f: Fields) -> Reply:
    return {"timestamp": unix(clock.now())}


COMMANDS: dict[str, Handler] = {
    "CreateSession": create_session,
    "ValidateSession": validate_session,
    "ValidateAndRefreshSession": validate_and_refresh_session,
    "FetchAllSessionsForUser": fetch_all_sessions_for_user,
    "FetchAllSessions": fetch_all_sessions,
    "FetchSessionById": fetch_session_by_id,
    "UpdateSession": update_session,
    "UpdateSessions": update_sessions,
    "InvalidateSessionById": invalidate_session_by_id,
    "InvalidateSessionByToken": invalidate_session_by_token,
    "InvalidateAllSessionsForUser": invalidate_all_sessions_for_user,
    "InvalidateAllSessionsForUserExceptOne": invalidate_all_sessions_for_user_except_one,
    "CreateDeviceChallenge": create_device_challenge,
    "RegisterDevice": register_device,
    "CreateStatelessToken": create_stateless_token,
    "GetJwks": get_jwks,
    "RotateStatelessTokenKey": rotate_stateless_token_key,
    "Ping": ping,
}

# Commands of the protocol (generated/command.py) that byo-sessions does not offer.
NOT_OFFERED = frozenset(
    {
        "StartPasskeyRegistration",
        "FinishPasskeyRegistration",
        "StartPasskeyAuthentication",
        "FinishPasskeyAuthentication",
        "FetchAllPasskeysForUser",
        "DeregisterPasskey",
        "DeregisterAllPasskeysForUser",
        "CreateImpersonationSession",
        "ValidateImpersonationSession",
        "FetchImpersonationSessionById",
        "FetchAllImpersonationSessionsForEmployee",
        "FetchAllImpersonationSessionsForUser",
        "FetchAllActiveImpersonationSessions",
        "InvalidateImpersonationSessionById",
        "InvalidateImpersonationSessionByToken",
        "InvalidateAllImpersonationSessionsForEmployee",
        "InvalidateAllImpersonationSessionsForUser",
        "ScimRequest",
        "LinkScimUser",
        "CommitScimUserChange",
        "CreateScimConnection",
        "FetchScimConnection",
        "PatchScimConnection",
        "ResetScimApiKey",
        "DeleteScimConnection",
        "GetScimUsers",
        "GetScimUser",
        "CreateOidcClient",
        "FetchOidcClient",
        "PatchOidcClient",
        "DeleteOidcClient",
        "InitiateOidcLogin",
        "CompleteOidcLogin",
        "CreateApiKey",
        "ValidateApiKey",
        "RevokeApiKey",
        "PatchApiKey",
        "GetApiKeys",
    }
)
