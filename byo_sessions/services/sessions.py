"""Session lifecycle: create, validate (and refresh), invalidate, fetch, update.

All functions are keyword-only, never see an ``HttpRequest``, and answer ``Ok(data)`` or
``Err(SessionError)`` for every expected outcome. A session's owner is either a Django
user (``user_id`` = its pk) or, for the HTTP session server, the caller's own string id
(``external_user_id``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.views.decorators.debug import sensitive_variables

from .. import selectors, signals
from ..conf import byo_settings
from ..core import clock
from ..core.network import InvalidIpAddress, normalise_ip
from ..core.tags import MAX_TAGS, TagFormatError, is_create_only, normalise_tags
from ..core.text import json_depth, unstorable_in_json, usable_identifier
from ..core.tokens import hash_token, is_well_formed, new_token
from ..core.user_agent import UserAgentSummary, clean_user_agent, parse_user_agent
from ..models import SESSION_ID_MAX_LENGTH, EndReason, Session, SessionTag, new_session_id
from ..values import (
    ClientDevice,
    ClientInfo,
    CreatedSession,
    DeviceRegistration,
    DeviceVerification,
    Err,
    ErrorType,
    Ok,
    SessionInfo,
    ValidatedSession,
    ViewRules,
    err,
)
from . import audit, devices, geo, limits, owners, policies, reauthentication, rotation
from .audit import Event, EventType
from .ending import end_sessions
from .expiry import effective_expiry, ended_error, expiry_from, extension
from .validation import RequestContext, _fail_repeatable, check_session

MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 64
MAX_SESSION_DURATION_MINUTES = 400 * 24 * 60  # the longest lifetime a policy can set (core/policy.py)


# --- input cleaning -------------------------------------------------------------------


def _clean_ip(ip_address: str | None) -> str | None | Err:
    try:
        return normalise_ip(ip_address)
    except InvalidIpAddress as exc:
        return err(ErrorType.INVALID_IP_ADDRESS, str(exc))


def _clean_metadata(metadata: Any) -> dict[str, Any] | Err:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        return err(ErrorType.INVALID_METADATA, "Metadata must be a JSON object.")
    try:
        encoded = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return err(ErrorType.INVALID_METADATA, f"Metadata must be JSON-serialisable: {exc}")
    except RecursionError:
        return err(ErrorType.INVALID_METADATA, "Metadata is nested too deeply.")
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        return err(ErrorType.INVALID_METADATA, f"Metadata is larger than {MAX_METADATA_BYTES} bytes.")
    decoded = json.loads(encoded)
    if json_depth(decoded) > MAX_METADATA_DEPTH:  # databases' JSON types have depth limits too
        return err(ErrorType.INVALID_METADATA, f"Metadata nests deeper than {MAX_METADATA_DEPTH} levels.")
    unstorable = unstorable_in_json(decoded)
    if unstorable is not None:
        return err(ErrorType.INVALID_METADATA, f"Metadata cannot be stored: {unstorable}.")
    return decoded


def _clean_tags(tags: Any) -> list[str] | Err:
    try:
        return normalise_tags(tags)
    except TagFormatError as exc:
        return err(ErrorType.INVALID_TAG_FORMAT, exc.reason, tag=exc.tag)


def looks_like_session_id(session_id: Any) -> bool:
    return usable_identifier(session_id, SESSION_ID_MAX_LENGTH)


# --- create ---------------------------------------------------------------------------


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def create(
    *,
    user_id: Any = None,
    external_user_id: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    device_registration: DeviceRegistration | None = None,
    replaces_session_token: str | None = None,
    actor: str = "",
    session_data: str = "",
    expires_at: datetime | None = None,
    authentication: Sequence[str] | None = (),
) -> Ok[CreatedSession] | Err:
    """Start a session. Returns the raw token once; only its hash is stored.

    With ``device_registration`` the signed challenge is verified first and the device
    is bound to the session; ``new_device_detected`` says whether this user had not
    used that key before (after commit the ``new_device_detected`` signal is sent and the
    adapter's ``new_device_detected`` called).

    ``replaces_session_token`` (what ``login()`` passes) is ended in the same transaction,
    before limits are counted: a refused login leaves the old session untouched. An
    anonymous session it names is deleted instead (its data moves into ``session_data``).

    ``session_data`` is the session engine's serialised ``request.session``;
    ``expires_at`` (``request.session.set_expiry``) may end the session sooner than its
    policy says, never later.

    ``authentication`` names the factors the login checked (``"password"``...; a verified
    device registration adds ``"device_proof"``): the session counts as authenticated now,
    which ``reauth_required`` reads. ``None`` says the session was not started by an
    authentication (a migrated one): sensitive actions then ask for one first.
    """
    owner = owners.resolve(user_id, external_user_id)
    if isinstance(owner, Err):
        return owner
    clean_tags = _clean_tags(tags)
    if isinstance(clean_tags, Err):
        return clean_tags
    clean_metadata = _clean_metadata(metadata)
    if isinstance(clean_metadata, Err):
        return clean_metadata
    ip = _clean_ip(ip_address)
    if isinstance(ip, Err):
        return ip
    ua = clean_user_agent(user_agent) or ""

    policy_set = policies.current()
    policy = policy_set.resolve(tuple(clean_tags))
    refused = policy.ip_refusal(ip)
    if refused is not None:
        return err(ErrorType.IP_ADDRESS_NOT_ALLOWED, refused.message, reason=refused.reason, **refused.details)

    proof = None
    if device_registration is not None:
        proof = devices.check_proof(
            proof=device_registration.signed_device_challenge,
            method=device_registration.request_method,
            url=device_registration.request_url,
            ip_address=ip,
            user_agent=ua,
            failure=ErrorType.INVALID_DEVICE_REGISTRATION,
        )
        if isinstance(proof, Err):
            return devices.registration_refused(
                proof, user_ref=owner.ref, ip_address=ip, user_agent=ua, during="login", actor=actor
            )

    now = clock.now()
    token = new_token()
    lifetime_end = now + timedelta(seconds=policy.absolute_lifetime_secs or byo_settings.ABSOLUTE_LIFETIME_SECS)
    session = Session(
        id=new_session_id(now),  # the id's time is the row's created_at (to the millisecond)
        user_id=owner.user_id,
        external_user_id=owner.external_user_id,
        token_hash=hash_token(token),
        token_issued_at=now,
        created_at=now,
        last_activity_at=now,
        expires_at=min(lifetime_end, expires_at) if expires_at is not None else lifetime_end,
        ip_address=ip,
        last_ip_address=ip,
        user_agent=ua,
        last_user_agent=ua,
        client=parse_user_agent(ua).to_dict(),
        tags=clean_tags,
        metadata=clean_metadata,
        data=session_data,
    )
    if authentication is not None:
        session.authenticated_at = now
        factors = [*authentication, *([reauthentication.DEVICE_PROOF] if proof is not None else [])]
        session.authentication_factors = reauthentication.at_login(factors, now)
    session.set_location(geo.locate(ip))
    refused_limit: Err | None = None
    refused_device: Err | None = None
    with transaction.atomic():
        owner.lock()
        if replaces_session_token is not None and is_well_formed(replaces_session_token):
            replaced = _by_any_token(replaces_session_token)
            replaced.filter(user__isnull=True, external_user_id__isnull=True).delete()
            end_sessions(replaced, reason=EndReason.LOGIN_REPLACED, actor=actor)
        refused_limit = limits.enforce(owner, tuple(clean_tags), policy, policy_set.per_tag_limits(clean_tags), now)
        if refused_limit is None:
            new_device, refused_device = _insert(
                session, clean_tags, clean_metadata, owner, ip, ua, actor, proof, device_registration
            )
            if refused_device is not None:
                transaction.set_rollback(True)
        else:
            transaction.set_rollback(True)
    if refused_device is not None:  # audited after the rollback, so the trace stays
        return devices.registration_refused(
            refused_device, user_ref=owner.ref, ip_address=ip, user_agent=ua, during="login", actor=actor
        )
    if refused_limit is not None:
        # Nothing changed, and the caller may ask again at once: a row at most once a minute.
        audit.record_throttled(
            Event(
                EventType.SESSION_LIMIT_EXCEEDED,
                user_ref=owner.ref,
                ip_address=ip,
                user_agent=ua,
                reason="reject_new",
                actor=actor,
                details=dict(refused_limit.error.details),
            )
        )
        return refused_limit
    return Ok(
        CreatedSession(
            session_id=session.id,
            session_token=token,
            created_at=now,
            expires_at=session.expires_at,
            user_id=session.user_id if session.user_id is not None else session.external_user_id,
            new_device_detected=new_device,
            device_id=session.device_id,
        )
    )


def _insert(
    session: Session,
    tags: list[str],
    metadata: dict[str, Any],
    owner: owners.Owner,
    ip: str | None,
    ua: str,
    actor: str,
    proof: Any,
    registration: DeviceRegistration | None,
) -> tuple[bool, Err | None]:
    """Write the new session, its tags, its device binding and the audit rows (in the caller's
    transaction). Returns (new_device_detected, refusal)."""
    session.save(force_insert=True)
    SessionTag.objects.bulk_create([SessionTag(session=session, tag=t) for t in tags])
    audit.record(Event.for_session(EventType.SESSION_CREATED, session, actor=actor, details={"tags": tags}))
    _record_new_country(session, owner, actor)
    new_device = False
    if proof is not None and registration is not None:
        refused = devices.consume_jti(proof, ErrorType.INVALID_DEVICE_REGISTRATION)
        if refused is not None:
            return False, refused
        _device, new_device = devices.bind_device(
            session, proof, remember=registration.remember_device, ip_address=ip, user_agent=ua
        )
    transaction.on_commit(
        lambda: signals.session_created.send(
            sender=Session,
            session_id=session.id,
            user_ref=owner.ref,
            tags=tags,
            metadata=metadata,
            ip_address=ip,
            user_agent=ua,
        )
    )
    return new_device, None


def _record_new_country(session: Session, owner: owners.Owner, actor: str) -> None:
    """A login from a country none of the owner's earlier sessions came from: ``new_country``.
    (The first located login has nothing to compare with, so it is not news.)"""
    if not session.country:
        return
    known = set(
        owner.sessions().exclude(pk=session.pk).exclude(country="").values_list("country", flat=True).distinct()[:300]
    )
    if known and session.country not in known:
        audit.record(
            Event.for_session(
                EventType.NEW_COUNTRY,
                session,
                actor=actor,
                reason="login",
                details={"after": session.country, "known": sorted(known)[:20]},
            )
        )


def as_validated(
    created: CreatedSession,
    *,
    user: Any,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
    session_data: str = "",
) -> ValidatedSession:
    """The just-created session as ``validate`` would describe it on the next request, so
    the request that logged in sees it without a query."""
    _absolute, expires_at, _why = expiry_from(
        created_at=created.created_at,
        last_activity_at=created.created_at,
        expires_at=created.expires_at,
        policy=policies.resolve(tuple(tags or ())),
    )
    return ValidatedSession(
        session_id=created.session_id,
        user_id=created.user_id,
        created_at=created.created_at,
        expires_at=expires_at,
        last_activity_at=created.created_at,
        tags=tuple(tags or ()),
        metadata=dict(metadata or {}),
        has_device_registered=created.device_id is not None,
        device_id=created.device_id,
        user=user,
        absolute_expires_at=created.expires_at,
        session_data=session_data,
    )


# --- validate -------------------------------------------------------------------------


def _invalid_token(
    message: str, reason: str, *, ip_address: str | None, user_agent: str | None, guessed: bool = True
) -> Err:
    """A token that names no user's session: a log line with the client; a ``guessed`` one
    (unknown or malformed) also counts towards its IP's brute-force row (services/audit.py)."""
    event = Event(EventType.VALIDATION_FAILED, ip_address=ip_address, user_agent=user_agent or "", reason=reason)
    if guessed:
        audit.record_unknown_token(event)
    else:
        audit.log_only(event)
    return err(ErrorType.INVALID_SESSION_TOKEN, message, reason=reason)


def _validated(session: Session, policy: Any, new_token_value: str | None, extended: bool = False) -> ValidatedSession:
    absolute, policy_expiry, _why = expiry_from(
        created_at=session.created_at,
        last_activity_at=session.last_activity_at,
        expires_at=session.expires_at,
        policy=policy,
    )
    return ValidatedSession(
        session_id=session.id,
        user_id=session.user_id if session.user_id is not None else session.external_user_id,
        created_at=session.created_at,
        expires_at=policy_expiry,
        last_activity_at=session.last_activity_at,
        tags=tuple(session.tags),
        metadata=session.metadata,
        has_device_registered=session.device_id is not None,
        device_id=session.device_id,
        new_session_token=new_token_value,
        user=session.user if session.user_id is not None else None,
        absolute_expires_at=absolute,
        session_data=session.data,
        extended=extended,
    )


def _validated_anonymous(session: Session, now: Any) -> Ok[ValidatedSession] | Err:
    """A visitor's data-only session: alive until it ends or expires; no policy, no audit,
    no rotation, no write (it guards a cart, not an account)."""
    if session.ended_at is not None or now >= session.expires_at:
        return err(ErrorType.SESSION_EXPIRED, "The session has expired.", reason=EndReason.EXPIRED_ABSOLUTE)
    return Ok(
        ValidatedSession(
            session_id=session.id,
            user_id=None,
            created_at=session.created_at,
            expires_at=session.expires_at,
            last_activity_at=session.last_activity_at,
            tags=(),
            metadata={},
            has_device_registered=False,
            absolute_expires_at=session.expires_at,
            session_data=session.data,
        )
    )


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def _validate(
    *,
    session_token: Any,
    client: ClientInfo,
    refresh: bool,
    required_tags: list[str] | None = None,
    rules: ViewRules = ViewRules(),
    allow_anonymous: bool = False,
    extend_secs: int | None = None,
) -> Ok[ValidatedSession] | Err:
    """The one validation behind ``validate``, ``validate_and_refresh`` and the session engine.

    ``extend_secs``: move the absolute end to now + that, within the policy (``expiry.extension``)."""
    ip = _clean_ip(client.ip_address)
    if isinstance(ip, Err):
        return ip
    ua = clean_user_agent(client.user_agent)
    if not is_well_formed(session_token):
        return _invalid_token(
            "The session token is missing or malformed.", "malformed_token", ip_address=ip, user_agent=ua
        )
    wanted_tags = _clean_tags(required_tags)  # a malformed one could never be on a session
    if isinstance(wanted_tags, Err):
        return wanted_tags
    now = clock.now()
    token_hash = hash_token(session_token)
    cleaned = client
    if (ip, ua) != (client.ip_address, client.user_agent):  # the edge has usually cleaned them already
        cleaned = replace(client, ip_address=ip, user_agent=ua)
    ctx = RequestContext(
        now=now,
        client=cleaned,
        required_tags=tuple(wanted_tags),
        ignore_device=rules.ignore_device,
        device_required=rules.device_required,
        presented_token_hash=token_hash,
    )
    session, ctx = devices.read_session(token_hash, ctx)
    successor: str | None = None
    if session is None:
        found = _find_by_old_token(session_token, token_hash, ctx)
        if isinstance(found, Err):
            return found
        session, successor = found
    if session.is_anonymous:
        if not allow_anonymous:  # only the session engine has a use for a visitor's data
            return _invalid_token(
                "The session token names no user's session.",
                "anonymous_session",
                ip_address=ip,
                user_agent=ua,
                guessed=False,
            )
        return _validated_anonymous(session, now)

    policy = policies.resolve(session.tags)
    checked = check_session(session, policy, ctx)
    if isinstance(checked, Err):
        return checked
    new_token_value = successor
    before = session.expires_at
    extended = extension(session, policy, now, extend_secs) if extend_secs else None
    if extended is not None:  # folded into the write below (or the rotation's): one conditional UPDATE
        checked.fields.update(expires_at=Greatest(F("expires_at"), extended), last_activity_at=now)
    if refresh and successor is None and rotation.is_due(session, policy.rotation_interval_secs, now):
        outcome = rotation.rotate(session, session_token, now, checked.fields)
        if outcome == rotation.LOST_RACE:
            # Another request rotated first: our token is now the previous one, which
            # leads to the same successor.
            return _validate(
                session_token=session_token,
                client=replace(client, device_verification=None),
                refresh=True,
                required_tags=required_tags,
                rules=ViewRules(ignore_device=True),
                allow_anonymous=allow_anonymous,
                extend_secs=extend_secs,
            )
        if outcome != rotation.FAILED:
            new_token_value = outcome
            checked.fields.clear()
    written = True
    if checked.fields:
        # Never an ended row: a logout that committed meanwhile is not undone by a touch.
        written = bool(Session.objects.filter(pk=session.pk, ended_at__isnull=True).update(**checked.fields))
        for name, value in checked.fields.items():
            setattr(session, name, value)
    if extended is not None:
        session.expires_at = max(before, extended) if written else before  # not the SQL expression
        if written:
            checked.events.append(
                Event.for_session(
                    EventType.SESSION_EXTENDED,
                    session,
                    ip_address=ctx.ip_address,
                    user_agent=ctx.user_agent or "",
                    details={
                        "before": before.isoformat(),
                        "after": session.expires_at.isoformat(),
                        "requested_secs": extend_secs,
                    },
                )
            )
    if checked.events:
        for event in checked.events:
            audit.record(event)
    return Ok(_validated(session, policy, new_token_value if refresh else None, extended=session.expires_at > before))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def _find_by_old_token(token: str, token_hash: str, ctx: RequestContext) -> tuple[Session, str | None] | Err:
    """A token that is not current: the previous one (grace) or a retired one (theft)."""
    session = selectors.session_by_previous_hash(token_hash)
    if session is not None:
        if session.ended_at is not None:
            return (
                rotation.report_reuse(
                    session, ip_address=ctx.ip_address, user_agent=ctx.user_agent, why="previous_token_of_ended_session"
                )
                if session.end_reason == EndReason.TOKEN_REUSE_DETECTED
                else ended_error(session)
            )
        successor = rotation.previous_token_successor(session, token, ctx.now)
        if successor is None:
            return rotation.report_reuse(
                session, ip_address=ctx.ip_address, user_agent=ctx.user_agent, why="previous_token_after_grace"
            )
        return session, successor
    retired = selectors.retired_token(token_hash)
    if retired is not None:
        return rotation.report_reuse(
            retired.session, ip_address=ctx.ip_address, user_agent=ctx.user_agent, why="retired_token"
        )
    return _invalid_token(
        "The session token is not recognised.", "unknown_token", ip_address=ctx.ip_address, user_agent=ctx.user_agent
    )


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def refuse_conflicting_tokens(*, session_tokens: tuple[Any, ...], client: ClientInfo) -> Err:
    """A request that presents two different session tokens (the cookie and a Bearer).

    Neither is used, since the request cannot say whose it is (a token planted beside the
    victim's, or a stolen one sent with the thief's own), and neither is ended: either may
    be its owner's. Audited against the session one of them names (the first given wins),
    bounded like every repeatable refusal (one row per session, reason and minute), else
    a log line only.
    """
    message, reason = "The request presents two different session tokens.", "conflicting_tokens"
    hashes = [hash_token(token) for token in session_tokens if is_well_formed(token)]
    named = {session.token_hash: session for session in Session.objects.filter(token_hash__in=hashes)}
    session = next((named[h] for h in hashes if h in named), None)
    ip = _clean_ip(client.ip_address)
    ctx = RequestContext(
        now=clock.now(),
        client=replace(
            client, ip_address=None if isinstance(ip, Err) else ip, user_agent=clean_user_agent(client.user_agent)
        ),
    )
    if session is None:
        audit.log_only(
            Event(
                EventType.VALIDATION_FAILED,
                ip_address=ctx.ip_address,
                user_agent=ctx.user_agent or "",
                reason=reason,
                details={"error": str(ErrorType.INVALID_SESSION_TOKEN)},
            )
        )
        return err(ErrorType.INVALID_SESSION_TOKEN, message, reason=reason)
    return _fail_repeatable(session, ctx, ErrorType.INVALID_SESSION_TOKEN, reason, message)


def _duration_secs(session_duration_minutes: Any) -> int | None | Err:
    if session_duration_minutes is None:
        return None
    if (
        not isinstance(session_duration_minutes, int)
        or isinstance(session_duration_minutes, bool)
        or not 1 <= session_duration_minutes <= MAX_SESSION_DURATION_MINUTES
    ):
        return err(
            ErrorType.INVALID_PARAMETERS,
            f"session_duration_minutes must be an integer from 1 to {MAX_SESSION_DURATION_MINUTES}.",
            reason="bad_session_duration",
        )
    return session_duration_minutes * 60


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def validate(
    *,
    session_token: Any,
    ip_address: str | None = None,
    user_agent: str | None = None,
    required_tags: list[str] | None = None,
    device_verification: DeviceVerification | None = None,
    ignore_device_for_verification: bool = False,
    device_verification_required: bool = False,
    session_duration_minutes: int | None = None,
) -> Ok[ValidatedSession] | Err:
    """Check a token for this request. Never rotates; one SELECT on the steady path.
    (The keywords mirror the BYO clients; inside they become a ``ClientInfo`` and ``ViewRules``.)

    ``session_duration_minutes`` (Stytch's name) extends the session's absolute end to now +
    that many minutes, as far as its policy allows (``allow_session_extension``,
    ``max_extended_lifetime_secs``); ``data.absolute_expires_at``/``expires_at`` carry the result."""
    extend_secs = _duration_secs(session_duration_minutes)
    if isinstance(extend_secs, Err):
        return extend_secs
    return _validate(
        session_token=session_token,
        refresh=False,
        required_tags=required_tags,
        client=ClientInfo(ip_address, user_agent, device_verification),
        rules=ViewRules(ignore_device_for_verification, device_verification_required),
        extend_secs=extend_secs,
    )


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def validate_and_refresh(
    *,
    session_token: Any,
    ip_address: str | None = None,
    user_agent: str | None = None,
    required_tags: list[str] | None = None,
    device_verification: DeviceVerification | None = None,
    ignore_device_for_verification: bool = False,
    device_verification_required: bool = False,
    session_duration_minutes: int | None = None,
) -> Ok[ValidatedSession] | Err:
    """Like ``validate``, and rotates the token when due (``data.new_session_token``)."""
    extend_secs = _duration_secs(session_duration_minutes)
    if isinstance(extend_secs, Err):
        return extend_secs
    return _validate(
        session_token=session_token,
        refresh=True,
        required_tags=required_tags,
        client=ClientInfo(ip_address, user_agent, device_verification),
        rules=ViewRules(ignore_device_for_verification, device_verification_required),
        extend_secs=extend_secs,
    )


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def validate_for_engine(
    *, session_token: Any, client: ClientInfo, refresh: bool, rules: ViewRules = ViewRules()
) -> Ok[ValidatedSession] | Err:
    """The session engine's load: ``validate`` (or ``validate_and_refresh``) that also accepts
    a visitor's ownerless session, which only ``request.session`` has a use for. With
    ``SLIDING_ABSOLUTE_LIFETIME_SECS`` every request extends the session that far."""
    return _validate(
        session_token=session_token,
        client=client,
        refresh=refresh,
        rules=rules,
        allow_anonymous=True,
        extend_secs=byo_settings.SLIDING_ABSOLUTE_LIFETIME_SECS,
    )


# --- invalidate -----------------------------------------------------------------------


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def _by_any_token(token: str) -> QuerySet[Session]:
    """The session whose current or previous token this is."""
    token_hash = hash_token(token)
    return Session.objects.filter(Q(token_hash=token_hash) | Q(previous_token_hash=token_hash))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def invalidate_by_token(*, session_token: Any, reason: str = EndReason.LOGOUT, actor: str = "") -> Ok[int]:
    """End the session holding this (current or previous) token. Unknown tokens are fine: Ok(0)."""
    if not is_well_formed(session_token):
        return Ok(0)
    return Ok(end_sessions(_by_any_token(session_token), reason=reason, actor=actor))


def invalidate_by_id(
    *,
    session_id: str,
    user_id: Any = None,
    external_user_id: str | None = None,
    reason: str = EndReason.API,
    actor: str = "",
) -> Ok[int] | Err:
    if not looks_like_session_id(session_id):
        return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
    queryset = Session.objects.filter(pk=session_id)
    if user_id is not None or external_user_id is not None:
        owned = owners.sessions_of(user_id, external_user_id)
        if isinstance(owned, Err):
            return owned
        queryset = queryset & owned
    if not queryset.exists():
        return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
    return Ok(end_sessions(queryset, reason=reason, actor=actor))


def invalidate_all_for_user(
    *,
    user_id: Any = None,
    external_user_id: str | None = None,
    session_tags: list[str] | None = None,
    reason: str = EndReason.API,
    actor: str = "",
) -> Ok[int] | Err:
    queryset = owners.sessions_with_tags(user_id, external_user_id, session_tags)
    if isinstance(queryset, Err):
        return queryset
    return Ok(end_sessions(queryset, reason=reason, actor=actor))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def invalidate_all_for_user_except_one(
    *,
    session_token_to_keep: Any = None,
    session_id_to_keep: Any = None,
    user_id: Any = None,
    external_user_id: str | None = None,
    session_tags: list[str] | None = None,
    reason: str = EndReason.USER,
    actor: str = "",
) -> Ok[int] | Err:
    """End the owner's sessions but one ("log out my other devices").

    The kept session is named by token or by id. A token matches the session's current
    *or previous* token: the request that asks may be the one whose token the middleware
    has just rotated, and it must not log itself out.
    """
    if session_token_to_keep is None and session_id_to_keep is None:
        return err(
            ErrorType.INVALID_PARAMETERS,
            "Name the session to keep (session_token_to_keep or "
            "session_id_to_keep); to end them all use invalidate_all_for_user.",
            reason="nothing_to_keep",
        )
    if session_token_to_keep is not None and not is_well_formed(session_token_to_keep):
        return err(
            ErrorType.INVALID_PARAMETERS,
            "session_token_to_keep is not a session token.",
            reason="malformed_token",
            parameter="session_token_to_keep",
        )
    if session_id_to_keep is not None and not looks_like_session_id(session_id_to_keep):
        return err(
            ErrorType.INVALID_PARAMETERS,
            "session_id_to_keep is not a session id.",
            reason="bad_session_id",
            parameter="session_id_to_keep",
        )
    queryset = owners.sessions_with_tags(user_id, external_user_id, session_tags)
    if isinstance(queryset, Err):
        return queryset
    if session_token_to_keep is not None:
        kept = hash_token(session_token_to_keep)
        queryset = queryset.exclude(Q(token_hash=kept) | Q(previous_token_hash=kept))
    if session_id_to_keep is not None:
        queryset = queryset.exclude(pk=session_id_to_keep)
    return Ok(end_sessions(queryset, reason=reason, actor=actor))


def invalidate_where(*, queryset: QuerySet[Session], reason: str = EndReason.BULK, actor: str = "") -> Ok[int]:
    """Bulk: end every active session in ``queryset`` (admin actions, management commands)."""
    return Ok(end_sessions(queryset, reason=reason, actor=actor))


# --- read -----------------------------------------------------------------------------


def session_info(session: Session) -> SessionInfo:
    summary = session.client or {}
    parsed = UserAgentSummary.from_dict(summary)
    policy = policies.resolve(session.tags)
    expiry, _ = effective_expiry(session, policy)
    return SessionInfo(
        session_id=session.id,
        user_id=session.user_id if session.user_id is not None else session.external_user_id,
        created_at=session.created_at,
        expires_at=expiry,
        last_activity_at=session.last_activity_at,
        ended_at=session.ended_at,
        end_reason=session.end_reason,
        ip_address=session.ip_address,
        last_ip_address=session.last_ip_address,
        device=ClientDevice(
            display_name=parsed.display_name if not parsed.is_unknown else "Unknown device",
            device_type=summary.get("device_type") or "Unknown",
            browser=summary.get("browser"),
            browser_version=summary.get("browser_version"),
            os=summary.get("os"),
            os_version=summary.get("os_version"),
        ),
        tags=tuple(session.tags),
        metadata=session.metadata,
        has_device_registered=session.device_id is not None,
        location=session.location,
    )


def fetch_all_for_user(
    *, user_id: Any = None, external_user_id: str | None = None, session_tags: list[str] | None = None
) -> Ok[list[SessionInfo]] | Err:
    """The user's live sessions (not ended, not expired under the current policy), newest first."""
    now = clock.now()
    queryset = owners.sessions_with_tags(user_id, external_user_id, session_tags)
    if isinstance(queryset, Err):
        return queryset
    infos = [session_info(s) for s in queryset.live(now)]
    return Ok([info for info in infos if info.expires_at > now])


def fetch_recently_ended(
    *, user_id: Any = None, external_user_id: str | None = None, since: datetime, limit: int = 10
) -> Ok[list[SessionInfo]] | Err:
    """The user's sessions ended since ``since``, most recent first (an account page's history)."""
    queryset = owners.sessions_of(user_id, external_user_id)
    if isinstance(queryset, Err):
        return queryset
    rows = queryset.filter(ended_at__gte=since).order_by("-ended_at")[:limit]
    return Ok([session_info(s) for s in rows])


def fetch_by_id(*, session_id: str) -> Ok[SessionInfo] | Err:
    session = Session.objects.filter(pk=session_id).first() if looks_like_session_id(session_id) else None
    if session is None:
        return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
    return Ok(session_info(session))


# --- update ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    adding: list[str]
    removing: list[str]
    replace_metadata: bool
    metadata: dict[str, Any] | None  # None: metadata untouched


def _clean_change(tags_to_add: Any, tags_to_remove: Any, new_metadata: Any, patch_metadata: Any) -> _Change | Err:
    if new_metadata is not None and patch_metadata is not None:
        return err(ErrorType.CONFLICTING_METADATA_OPTIONS, "Pass new_metadata or patch_metadata, not both.")
    adding = _clean_tags(tags_to_add)
    if isinstance(adding, Err):
        return adding
    removing = _clean_tags(tags_to_remove)
    if isinstance(removing, Err):
        return removing
    given = new_metadata if new_metadata is not None else patch_metadata
    metadata = _clean_metadata(given) if given is not None else None
    if isinstance(metadata, Err):
        return metadata
    return _Change(adding, removing, new_metadata is not None, metadata)


def _apply(rows: list[Session], change: _Change) -> Err | None:
    """Compute each row's new tags and metadata in memory; the first refusal wins."""
    create_only = policies.current().create_only_tag_types
    locked: list[str] = []
    for session in rows:
        current = list(session.tags)
        locked += [t for t in change.adding if t not in current and is_create_only(t, create_only) and t not in locked]
        locked += [t for t in change.removing if t in current and is_create_only(t, create_only) and t not in locked]
        kept = [t for t in current if t not in change.removing]
        session.tags = kept + [t for t in change.adding if t not in kept]  # remove, then add (as _save does)
        if change.metadata is not None:
            session.metadata = change.metadata if change.replace_metadata else {**session.metadata, **change.metadata}
    if locked:
        return err(
            ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS, "These tags can only be set at creation.", tag_names=locked
        )
    for session in rows:
        if len(session.tags) > MAX_TAGS:
            return err(ErrorType.INVALID_TAG_FORMAT, f"A session holds at most {MAX_TAGS} tags.", tag=session.tags[-1])
        if len(json.dumps(session.metadata).encode()) > MAX_METADATA_BYTES:
            return err(ErrorType.INVALID_METADATA, f"Metadata is larger than {MAX_METADATA_BYTES} bytes.")
    return None


def _save(rows: list[Session], change: _Change, actor: str, bulk: bool) -> None:
    """Set-based writes whatever the number of rows: one UPDATE, tag rows, audit rows."""
    ids = [s.id for s in rows]
    Session.objects.bulk_update(rows, ["tags", "metadata"], batch_size=500)
    if change.removing:
        SessionTag.objects.filter(session_id__in=ids, tag__in=change.removing).delete()
    if change.adding:
        SessionTag.objects.bulk_create(
            [SessionTag(session_id=i, tag=t) for i in ids for t in change.adding], ignore_conflicts=True, batch_size=500
        )
    details = {
        "tags_added": change.adding,
        "tags_removed": change.removing,
        "metadata_changed": change.metadata is not None,
        **({"bulk": True} if bulk else {}),
    }
    audit.record_many(Event.for_session(EventType.SESSION_UPDATED, s, actor=actor, details=details) for s in rows)


_UPDATE_COLUMNS = ("id", "user_id", "external_user_id", "tags", "metadata", "last_ip_address", "last_user_agent")


def update(
    *,
    session_id: str,
    tags_to_add: list[str] | None = None,
    tags_to_remove: list[str] | None = None,
    new_metadata: dict[str, Any] | None = None,
    patch_metadata: dict[str, Any] | None = None,
    actor: str = "",
) -> Ok[None] | Err:
    """Change tags and metadata. ``new_metadata`` replaces, ``patch_metadata`` merges (not both)."""
    change = _clean_change(tags_to_add, tags_to_remove, new_metadata, patch_metadata)
    if isinstance(change, Err):
        return change
    if not looks_like_session_id(session_id):
        return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
    with transaction.atomic():
        rows = list(Session.objects.select_for_update().filter(pk=session_id).only(*_UPDATE_COLUMNS))
        if not rows:
            return err(ErrorType.SESSION_NOT_FOUND, "No such session.", session_id=str(session_id)[:64])
        refused = _apply(rows, change)
        if refused is not None:
            return refused
        _save(rows, change, actor, bulk=False)
    return Ok(None)


def update_many(
    *,
    queryset: QuerySet[Session],
    max_count: int,
    tags_to_add: list[str] | None = None,
    tags_to_remove: list[str] | None = None,
    new_metadata: dict[str, Any] | None = None,
    patch_metadata: dict[str, Any] | None = None,
    actor: str = "",
) -> Ok[int] | Err:
    """``update()`` for every session of ``queryset``, all or nothing; more than
    ``max_count`` sessions is refused (``UpdatingTooManySessionsAtOnce``) before any write."""
    change = _clean_change(tags_to_add, tags_to_remove, new_metadata, patch_metadata)
    if isinstance(change, Err):
        return change
    with transaction.atomic():
        rows = list(queryset.select_for_update().only(*_UPDATE_COLUMNS)[: max_count + 1])
        if len(rows) > max_count:
            return err(
                ErrorType.UPDATING_TOO_MANY_SESSIONS, f"More than {max_count} sessions match.", max_allowed=max_count
            )
        refused = _apply(rows, change)
        if refused is not None:
            return refused
        _save(rows, change, actor, bulk=True)
    return Ok(len(rows))
