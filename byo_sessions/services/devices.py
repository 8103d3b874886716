"""Device binding: challenges, proof checks, registration and per-request verification.

A device is an ECDSA P-256 key held (non-extractable) by the browser. The server issues
a challenge bound to the client's IP and User-Agent (``challenges.py``, stateless, HMAC
keyed from ``SECRET_KEY``); the browser returns a DPoP-style proof signed over it
(``dpop.py``). Here those two pure checks meet the database: single use of ``jti``
(``UsedProof``), the ``Device`` rows, the session's bound thumbprint and the optional
``ath`` (the hash of the session token the proof names).

Every refused proof leaves an audit trace: per request via ``_refuse``, at login and in
``register`` via ``registration_refused``, which callers run outside any transaction
they roll back. A client can repeat a refusal at will, so each is a log line every time
and a row at most once per session (or user), reason and minute (``audit.record_throttled``).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction

from .. import selectors, signals
from ..adapter import get_adapter
from ..conf import byo_settings, secret_keys
from ..core import clock
from ..core.challenges import ChallengeError, check_challenge, issue_challenge
from ..core.dpop import ProofError, VerifiedProof, check_ath, peek_replay_key, replay_key, verify_proof
from ..core.network import InvalidIpAddress, normalise_ip
from ..core.policy import Policy
from ..core.text import usable_identifier
from ..core.tokens import hash_token, is_well_formed
from ..core.user_agent import clean_user_agent, parse_user_agent
from ..models import SESSION_ID_MAX_LENGTH, Device, EndReason, Session, UsedProof
from ..values import DeviceChallenge, DeviceVerification, Err, ErrorType, Ok, err
from . import audit, expiry, geo
from .audit import Event, EventType
from .ending import end_sessions
from .owners import Owner, named

DEVICE_ID_MAX_LENGTH = Device._meta.get_field("id").max_length or 40

# Challenge failures that a fresh challenge cures (425 + retry) vs. ones that are refusals.
_RECHALLENGE = {"expired": "challenge_expired", "ip_mismatch": "ip_changed", "ua_mismatch": "user_agent_changed"}


@functools.lru_cache(maxsize=8)  # SECRET_KEY and its fallbacks; checked on every proved request
def _secret(key: str) -> bytes:
    return hashlib.sha256(b"byo_sessions.device_challenge:" + key.encode()).digest()


def _check_challenge(challenge: str, *, ip_address: str | None, user_agent: str, now: float) -> None:
    """Accept challenges signed with SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
    keys = secret_keys()
    for index, key in enumerate(keys):
        try:
            check_challenge(challenge, secret=_secret(key), ip_address=ip_address, user_agent=user_agent, now=now)
            return
        except ChallengeError as exc:
            if exc.reason != "forged" or index == len(keys) - 1:
                raise


def _unix(now: datetime) -> float:
    return now.timestamp()


def create_challenge(*, ip_address: str | None = None, user_agent: str | None = None) -> Ok[DeviceChallenge] | Err:
    """A short-lived challenge bound to this IP and User-Agent."""
    try:
        ip = normalise_ip(ip_address)
    except InvalidIpAddress as exc:
        return err(ErrorType.INVALID_IP_ADDRESS, str(exc))
    value, expires_at = issue_challenge(
        secret=_secret(secret_keys()[0]),
        ip_address=ip,
        user_agent=clean_user_agent(user_agent) or "",
        now=_unix(clock.now()),
        ttl_secs=byo_settings.DEVICE_CHALLENGE_TTL_SECS,
    )
    return Ok(DeviceChallenge(device_challenge=value, expires_at=expires_at))


def challenge_required(*, ip_address: str | None, user_agent: str | None, reason: str) -> Err:
    """``NewDeviceChallengeRequired`` carrying a fresh challenge (what the 425 answer holds)."""
    fresh = create_challenge(ip_address=ip_address, user_agent=user_agent)
    if isinstance(fresh, Err):
        return fresh
    return err(
        ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED,
        "Sign this new device challenge and retry.",
        reason=reason,
        device_challenge=fresh.data.device_challenge,
        expires_at=fresh.data.expires_at,
    )


def check_proof(
    *,
    proof: str | None,
    method: str | None,
    url: str | None,
    ip_address: str | None,
    user_agent: str | None,
    failure: ErrorType,
) -> VerifiedProof | Err:
    """Verify a proof and its challenge. ``failure`` is the error type for a refused proof
    (``InvalidDeviceRegistration`` at login, ``DeviceVerificationFailed`` per request)."""
    now = clock.now()
    if not method or not url:
        return err(failure, "The proof needs the request method and URL.", reason="missing_request_url")
    if isinstance(proof, str) and "," in proof:
        return err(failure, "Send exactly one DPoP header.", reason="multiple_headers")
    try:
        # The method exactly as sent: fetch() upper-cases only the standard ones.
        verified = verify_proof(
            proof, method=method, url=url, now=_unix(now), max_age_secs=byo_settings.DEVICE_PROOF_MAX_AGE_SECS
        )
    except ProofError as exc:
        if exc.reason in ("iat_too_old", "iat_in_future"):  # stale, or the client's clock is off: sign again
            return challenge_required(ip_address=ip_address, user_agent=user_agent, reason=exc.reason)
        return err(failure, exc.message, reason=exc.reason)
    if not verified.nonce:
        return challenge_required(ip_address=ip_address, user_agent=user_agent, reason="missing_challenge")
    try:
        _check_challenge(
            verified.nonce, ip_address=ip_address, user_agent=clean_user_agent(user_agent) or "", now=_unix(now)
        )
    except ChallengeError as exc:
        if exc.reason in _RECHALLENGE:
            return challenge_required(ip_address=ip_address, user_agent=user_agent, reason=_RECHALLENGE[exc.reason])
        return err(failure, exc.message, reason=f"challenge_{exc.reason}")
    return verified


def consume_jti(verified: VerifiedProof, failure: ErrorType) -> Err | None:
    """Record the proof's ``jti``; a second use of the same proof is refused.

    One ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite): a replay inserts no row
    and raises nothing, so inside a caller's transaction no savepoint is needed (two round
    trips fewer) and the ORM's save machinery stays off the per-proof path (about half the
    CPU). Other databases take the ORM's ``IntegrityError`` route."""
    digest = replay_key(verified.thumbprint, verified.jti)
    expires_at = spent_proof_expiry(clock.now())
    connection = connections[router.db_for_write(UsedProof)]
    if connection.vendor in ("postgresql", "sqlite"):
        with connection.cursor() as cursor:
            cursor.execute(_insert_jti_sql(connection), [digest, connection.ops.adapt_datetimefield_value(expires_at)])
            inserted = cursor.rowcount == 1
    else:
        inserted = _insert_jti_orm(UsedProof(jti_hash=digest, expires_at=expires_at), connection)
    return None if inserted else _reused(failure)


def _reused(failure: ErrorType) -> Err:
    return err(failure, "This proof was already used.", reason="jti_reused")


def spent_proof_expiry(now: datetime) -> datetime:
    """How long a spent proof is remembered: past the age at which it is refused anyway."""
    return now + timedelta(seconds=byo_settings.DEVICE_PROOF_MAX_AGE_SECS + 60)


def _insert_jti_sql(connection: Any) -> str:
    qn = connection.ops.quote_name
    table = qn(UsedProof._meta.db_table)
    jti = qn(UsedProof._meta.get_field("jti_hash").column)
    expires = qn(UsedProof._meta.get_field("expires_at").column)
    return f"INSERT INTO {table} ({jti}, {expires}) VALUES (%s, %s) ON CONFLICT ({jti}) DO NOTHING"


def _insert_jti_orm(used: UsedProof, connection: Any) -> bool:
    try:
        if connection.in_atomic_block:  # a refused INSERT must not break the caller's transaction
            with transaction.atomic(using=connection.alias):
                used.save(force_insert=True, using=connection.alias)
        else:
            used.save(force_insert=True, using=connection.alias)
    except IntegrityError:
        return False
    return True


def _ath_refusal(verified: VerifiedProof, presented_token_hash: str, failure: ErrorType) -> Err | None:
    """RFC 9449 ``ath``: a proof that names a token must name the one this request presented
    (``presented_token_hash``, SHA-256 hex; empty: none to compare). Without ``ath`` it passes."""
    try:
        check_ath(verified.ath, [bytes.fromhex(presented_token_hash)] if presented_token_hash else [])
    except ProofError as exc:
        return err(failure, exc.message, reason=exc.reason)
    return None


def _ath_rule_refusal(verified: VerifiedProof, rule: str, presented_token_hash: str) -> Err | None:
    if rule == "ignored":
        return None
    if rule == "required" and verified.ath is None:
        return err(
            ErrorType.DEVICE_VERIFICATION_FAILED,
            "A proof sent with a Bearer token must carry ath (RFC 9449).",
            reason="ath_missing",
        )
    return _ath_refusal(verified, presented_token_hash, ErrorType.DEVICE_VERIFICATION_FAILED)


def registration_refused(
    refusal: Err,
    *,
    user_ref: str,
    ip_address: str | None,
    user_agent: str,
    during: str,
    session_id: str = "",
    actor: str = "",
) -> Err:
    """Audit a device proof refused at login or by ``register`` and return the refusal.

    Call it outside any transaction that rolls back (the trace of an attack must stay).
    A stale proof (425) is a challenge issued, anything else a failed verification."""
    asks_again = refusal.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    event = EventType.DEVICE_CHALLENGE_ISSUED if asks_again else EventType.DEVICE_VERIFICATION_FAILED
    audit.record_throttled(
        Event(
            event,
            session_id=session_id,
            user_ref=user_ref,
            ip_address=ip_address,
            user_agent=user_agent,
            reason=str(refusal.error.details.get("reason", "")),
            actor=actor,
            details={"error": str(refusal.error.type), "during": during},
        )
    )
    return refusal


def bind_device(
    session: Session, verified: VerifiedProof, *, remember: bool, ip_address: str | None, user_agent: str
) -> tuple[Device, bool]:
    """Attach the proven key to ``session``; returns (device, new_device_detected)."""
    now = clock.now()
    location = geo.locate(ip_address)
    device = Owner.of(session).devices().filter(thumbprint=verified.thumbprint).first()
    is_new = device is None or not device.remembered
    if device is None:
        device = Device(
            user_id=session.user_id,
            external_user_id=session.external_user_id,
            thumbprint=verified.thumbprint,
            public_jwk=dict(verified.public_jwk),
            display_name=parse_user_agent(user_agent).display_name,
            remembered=remember,
            first_seen_at=now,
            last_seen_at=now,
            last_ip_address=ip_address,
            last_user_agent=user_agent,
        )
        device.set_location(location)
        device.save(force_insert=True)
    else:
        Device.objects.filter(pk=device.pk).update(
            last_seen_at=now,
            last_ip_address=ip_address,
            last_user_agent=user_agent,
            remembered=remember or device.remembered,
            country=location.country,
            city=location.city,
            network=location.network,
        )
    Session.objects.filter(pk=session.pk).update(device=device, device_thumbprint=verified.thumbprint)
    session.device_id, session.device_thumbprint = device.pk, verified.thumbprint
    audit.record(
        Event.for_session(
            EventType.DEVICE_REGISTERED,
            session,
            ip_address=ip_address,
            user_agent=user_agent,
            details={"device_id": device.pk, "new": is_new},
        )
    )
    if is_new:
        audit.record(
            Event.for_session(
                EventType.NEW_DEVICE_DETECTED,
                session,
                ip_address=ip_address,
                user_agent=user_agent,
                details={"device_id": device.pk},
            )
        )
    ref = session.owner_ref

    def announce() -> None:
        signals.device_registered.send(sender=Device, device_id=device.pk, user_ref=ref, session_id=session.pk)
        if is_new:
            signals.new_device_detected.send(
                sender=Device,
                device_id=device.pk,
                user_ref=ref,
                session_id=session.pk,
                ip_address=ip_address,
                user_agent=user_agent,
                display_name=device.display_name,
            )
            get_adapter().new_device_detected(
                user_ref=ref,
                device_id=device.pk,
                session_id=session.pk,
                ip_address=ip_address,
                user_agent=user_agent,
                display_name=device.display_name,
            )

    transaction.on_commit(announce)
    return device, is_new


def _active_session(session_token: str | None, session_id: str | None) -> Session | None:
    """The session to bind, only if ``validate`` would accept it: not ended, not expired under
    its current policy, and its user still active."""
    if session_token is not None:
        query = Session.objects.filter(token_hash=hash_token(session_token)) if is_well_formed(session_token) else None
    else:
        query = Session.objects.filter(pk=session_id) if usable_identifier(session_id, SESSION_ID_MAX_LENGTH) else None
    session = query.select_related("user").first() if query is not None else None
    return session if session is not None and expiry.is_alive(session, clock.now()) else None


def _registration_proof(
    presented_token_hash: str,
    proof: str,
    *,
    method: str | None,
    url: str | None,
    ip_address: str | None,
    user_agent: str,
) -> VerifiedProof | Err:
    """``check_proof``, then the proof's ``ath`` (if any) against the token the caller presented
    (a registration by ``session_id`` has none: an ``ath`` then names nothing we know, refused)."""
    verified = check_proof(
        proof=proof,
        method=method,
        url=url,
        ip_address=ip_address,
        user_agent=user_agent,
        failure=ErrorType.INVALID_DEVICE_REGISTRATION,
    )
    if isinstance(verified, Err):
        return verified
    return _ath_refusal(verified, presented_token_hash, ErrorType.INVALID_DEVICE_REGISTRATION) or verified


def _bind_once(
    session: Session, verified: VerifiedProof, *, remember: bool, ip_address: str | None, user_agent: str
) -> Ok[bool] | Err:
    """Spend the proof's ``jti`` and bind its key in one transaction; ``Ok(new_device_detected)``.

    Serialised per owner like session creation: parallel registrations (a double submit,
    two tabs) bind one device to the session and create one ``Device`` row per key.
    """
    with transaction.atomic():
        Owner.of(session).lock()
        if Session.objects.filter(pk=session.pk, device__isnull=False).exists():
            return _already_registered()
        refused = consume_jti(verified, ErrorType.INVALID_DEVICE_REGISTRATION)
        if refused is not None:
            return refused
        _device, is_new = bind_device(
            session, verified, remember=remember, ip_address=ip_address, user_agent=user_agent
        )
    return Ok(is_new)


def register(
    *,
    signed_device_challenge: str,
    remember_device: bool,
    session_token: str | None = None,
    session_id: str | None = None,
    request_url: str | None = None,
    request_method: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> Ok[bool] | Err:
    """Register a device for an existing, active session (after login). ``Ok(new_device_detected)``."""
    try:
        ip = normalise_ip(ip_address)
    except InvalidIpAddress as exc:
        return err(ErrorType.INVALID_IP_ADDRESS, str(exc))
    ua = clean_user_agent(user_agent) or ""
    session = _active_session(session_token, session_id)
    if session is None:
        return err(ErrorType.SESSION_NOT_FOUND, "No such active session.")
    if session.device_id is not None:
        return _already_registered()
    presented = hash_token(session_token) if session_token is not None and is_well_formed(session_token) else ""
    verified = _registration_proof(
        presented, signed_device_challenge, method=request_method, url=request_url, ip_address=ip, user_agent=ua
    )
    result = (
        verified
        if isinstance(verified, Err)
        else _bind_once(session, verified, remember=remember_device, ip_address=ip, user_agent=ua)
    )
    if isinstance(result, Err) and result.error.type != ErrorType.DEVICE_ALREADY_REGISTERED:
        return registration_refused(
            result, user_ref=session.owner_ref, ip_address=ip, user_agent=ua, during="register", session_id=session.id
        )
    return result


def _already_registered() -> Err:
    return err(ErrorType.DEVICE_ALREADY_REGISTERED, "This session already has a device.")


def _refuse(session: Session, ctx: Any, type_: ErrorType, message: str, reason: str) -> Err:
    event = (
        EventType.DEVICE_VERIFICATION_FAILED
        if type_ == ErrorType.DEVICE_VERIFICATION_FAILED
        else EventType.VALIDATION_FAILED
    )
    audit.record_throttled(
        Event.for_session(
            event,
            session,
            ip_address=ctx.ip_address,
            user_agent=ctx.user_agent or "",
            reason=reason,
            details={"error": str(type_)},
        )
    )
    signals.session_validation_failed.send(
        sender=Session, session_id=session.id, user_ref=session.owner_ref, error_type=str(type_), reason=reason
    )
    return err(type_, message, reason=reason)


def check_request_device(session: Session, policy: Policy, ctx: Any, *, ip_change_pending: bool) -> Err | None:
    """Device rules for one request (called by ``validation.check_session``).

    ``ip_change_pending`` means the IP changed under an ``on_ip_address_change:
    challenge`` policy: only a fresh proof from the session's device accepts the change.
    """
    if ctx.ignore_device:
        return None
    proof: DeviceVerification | None = ctx.device_verification
    bound = session.device_thumbprint
    required = policy.device_verification_required or ctx.device_required or ip_change_pending
    if proof is None:
        if not required:
            return None
        if bound and ip_change_pending:
            audit.record_throttled(
                Event.for_session(
                    EventType.DEVICE_CHALLENGE_ISSUED,
                    session,
                    ip_address=ctx.ip_address,
                    user_agent=ctx.user_agent or "",
                    reason="ip_changed",
                    details={"before": session.last_ip_address, "after": ctx.ip_address},
                )
            )
            return challenge_required(ip_address=ctx.ip_address, user_agent=ctx.user_agent, reason="ip_changed")
        why = "no_device_registered" if not bound else "missing_proof"
        return _refuse(
            session,
            ctx,
            ErrorType.DEVICE_VERIFICATION_REQUIRED,
            "This request needs a proof from the session's device.",
            why,
        )
    if not bound:
        if required:
            return _refuse(
                session,
                ctx,
                ErrorType.DEVICE_VERIFICATION_REQUIRED,
                "This session has no registered device.",
                "no_device_registered",
            )
        return None
    verified = check_proof(
        proof=proof.signed_device_challenge,
        method=proof.request_method,
        url=proof.request_url,
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent,
        failure=ErrorType.DEVICE_VERIFICATION_FAILED,
    )
    if isinstance(verified, Err):
        if verified.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED:
            audit.record_throttled(
                Event.for_session(
                    EventType.DEVICE_CHALLENGE_ISSUED,
                    session,
                    ip_address=ctx.ip_address,
                    user_agent=ctx.user_agent or "",
                    reason=verified.error.details.get("reason", ""),
                )
            )
            return verified
        return _refuse(
            session,
            ctx,
            ErrorType.DEVICE_VERIFICATION_FAILED,
            verified.error.message,
            verified.error.details.get("reason", "bad_proof"),
        )
    if verified.thumbprint != bound:
        return _refuse(
            session,
            ctx,
            ErrorType.DEVICE_VERIFICATION_FAILED,
            "The request was signed by a device this session is not bound to.",
            "unrecognised_device",
        )
    wrong_token = _ath_rule_refusal(verified, proof.ath_rule, ctx.presented_token_hash)
    if wrong_token is not None:
        return _refuse(
            session,
            ctx,
            ErrorType.DEVICE_VERIFICATION_FAILED,
            wrong_token.error.message,
            wrong_token.error.details["reason"],
        )
    refused = _spend(verified, ctx.proof_read)
    if refused is not None:
        return _refuse(session, ctx, ErrorType.DEVICE_VERIFICATION_FAILED, refused.error.message, "jti_reused")
    return None


def read_session(token_hash: str, ctx: Any) -> tuple[Session | None, Any]:
    """The session of a presented token, read as ``selectors.session_by_token_hash``; on
    PostgreSQL a request that carries a device proof records the proof as spent in the
    same statement (one round trip instead of two), noted in the returned context for
    ``check_request_device``."""
    proof = ctx.device_verification
    if proof is None or ctx.ignore_device or not selectors.can_record_proof_with_session():
        return selectors.session_by_token_hash(token_hash), ctx
    peeked = peek_replay_key(proof.signed_device_challenge)
    if peeked is None:  # not shaped like a proof: verification refuses it with its reason
        return selectors.session_by_token_hash(token_hash), ctx
    thumbprint, key = peeked
    to_record = selectors.ProofToRecord(thumbprint, key, spent_proof_expiry(ctx.now))
    session, recorded = selectors.session_recording_proof(token_hash, to_record)
    if session is None:  # perhaps an old token within its grace: found and spent elsewhere
        return None, ctx
    return session, replace(ctx, proof_read=(key, recorded))


def _spend(verified: VerifiedProof, proof_read: tuple[str, bool] | None) -> Err | None:
    """Refuse a proof already spent: as the session read recorded it, else by its own INSERT."""
    if proof_read is not None and proof_read[0] == replay_key(verified.thumbprint, verified.jti):
        return None if proof_read[1] else _reused(ErrorType.DEVICE_VERIFICATION_FAILED)
    return consume_jti(verified, ErrorType.DEVICE_VERIFICATION_FAILED)


def devices_of(*, user_id: Any = None, external_user_id: str | None = None) -> Ok[list[Device]] | Err:
    """The owner's devices, most recently seen first (what a "my devices" page lists)."""
    owner = named(user_id, external_user_id)
    if isinstance(owner, Err):
        return owner
    return Ok(list(owner.devices().order_by("-last_seen_at", "id")))


def revoke(
    *,
    device_id: str,
    user_id: Any = None,
    external_user_id: str | None = None,
    actor: str = "",
    reason: str = EndReason.USER,
) -> Ok[int] | Err:
    """End every session bound to the owner's device and forget the device; ``Ok(sessions ended)``.

    Forgotten, not only ended: the next login with that key counts as a new device (a
    "new device" notice), which is what a user who lost a laptop expects. Another owner's
    device answers ``DeviceNotFound`` like a missing one, so ids cannot be probed.
    """
    owner = named(user_id, external_user_id)
    if isinstance(owner, Err):
        return owner
    if not usable_identifier(device_id, DEVICE_ID_MAX_LENGTH):
        return _device_not_found(device_id)
    with transaction.atomic():
        owner.lock()  # no login binds this key to a new session while it is being forgotten
        device = owner.devices().filter(pk=device_id).first()
        if device is None:
            return _device_not_found(device_id)
        ended = end_sessions(
            Session.objects.filter(device=device),
            reason=reason,
            actor=actor,
            details={"device_id": device.pk, "device_revoked": True},
        )
        audit.record(
            Event(
                EventType.DEVICE_REVOKED,
                user_ref=owner.ref,
                ip_address=device.last_ip_address,
                reason=reason,
                actor=actor,
                details={"device_id": device.pk, "name": str(device), "sessions_ended": ended},
            )
        )
        device.delete()
    return Ok(ended)


def _device_not_found(device_id: Any) -> Err:
    return err(ErrorType.DEVICE_NOT_FOUND, "No such device.", device_id=str(device_id)[:64])


def prune_used_proofs(now: datetime | None = None) -> int:
    """Forget ``jti`` values that can no longer be replayed (their proofs are too old)."""
    deleted, _ = UsedProof.objects.filter(expires_at__lt=now or clock.now()).delete()
    return deleted


__all__ = [
    "DeviceChallenge",
    "create_challenge",
    "register",
    "check_request_device",
    "devices_of",
    "revoke",
    "prune_used_proofs",
]
