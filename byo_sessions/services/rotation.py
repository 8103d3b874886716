"""Token rotation and reuse (theft) detection.

Model (see ``docs/rotation.md``): the row holds the current token hash, the previous
one with the moment it stops being accepted, and a generation counter; older hashes
move to ``RetiredToken``.

* The successor of a token is *derived*: ``HMAC(SECRET_KEY, session id, generation,
  old token)``. Whoever holds the previous token inside the grace window therefore gets
  the very same successor, never a second lineage. That is what lets 20 parallel tabs
  or a retried request, all carrying the just-rotated token, succeed with one new token.
* Rotation is a single compare-and-swap UPDATE on (id, generation, token_hash) in a
  transaction with the insert of the retired hash; the loser of a race re-reads the row
  and goes the "previous token" way. A database error leaves the old token in place.
* A retired token (two or more generations old, at any time) or the previous one after
  the window ends the session with reason ``token_reuse_detected``.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.debug import sensitive_variables

from .. import signals
from ..conf import byo_settings, secret_keys
from ..core.tokens import hash_token
from ..models import EndReason, RetiredToken, Session
from ..values import Err, ErrorType, err
from . import audit
from .audit import Event, EventType
from .ending import end_session

logger = logging.getLogger("byo_sessions")

_SALT = "byo_sessions.rotation.successor"


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def successor_token(session_id: str, generation: int, token: str, secret: str | None = None) -> str:
    """The token that replaces ``token`` when ``session_id`` moves to ``generation``."""
    digest = salted_hmac(_SALT, f"{session_id}:{generation}:{token}", secret=secret, algorithm="sha256").digest()
    return byo_settings.TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_due(session: Session, interval_secs: int | None, now: datetime) -> bool:
    if not interval_secs:
        return False  # rotation switched off for this session's policy
    return now - session.token_issued_at >= timedelta(seconds=interval_secs)


LOST_RACE = "lost_race"
FAILED = "failed"


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def rotate(session: Session, token: str, now: datetime, extra_fields: dict) -> str:
    """Move ``session`` from ``token`` to its successor. Returns the new token, or
    ``LOST_RACE`` when another request rotated first (the caller then re-reads), or
    ``FAILED`` when the database failed (the old token keeps working; a later request
    rotates)."""
    new_generation = session.generation + 1
    new_token = successor_token(session.id, new_generation, token)
    grace = byo_settings.ROTATION_GRACE_SECS
    try:
        with transaction.atomic():
            updated = Session.objects.filter(
                pk=session.pk, generation=session.generation, token_hash=session.token_hash, ended_at__isnull=True
            ).update(
                token_hash=hash_token(new_token),
                previous_token_hash=session.token_hash if grace > 0 else None,
                previous_token_valid_until=now + timedelta(seconds=grace) if grace > 0 else None,
                generation=new_generation,
                token_issued_at=now,
                **extra_fields,
            )
            if not updated:
                return LOST_RACE
            retired = [session.previous_token_hash] if session.previous_token_hash else []
            if grace <= 0:
                retired.append(session.token_hash)
            RetiredToken.objects.bulk_create(
                [
                    RetiredToken(token_hash=h, session_id=session.pk, generation=session.generation, retired_at=now)
                    for h in retired
                ]
            )
    except DatabaseError:
        logger.exception("byo_sessions: rotation of %s failed; the current token stays valid", session.pk)
        return FAILED
    audit.record(
        Event.for_session(
            EventType.SESSION_ROTATED,
            session,
            ip_address=extra_fields.get("last_ip_address", session.last_ip_address),
            details={"generation": new_generation},
        )
    )
    transaction.on_commit(
        lambda: signals.session_rotated.send(
            sender=Session, session_id=session.pk, user_ref=session.owner_ref, generation=new_generation
        )
    )
    for name, value in extra_fields.items():
        setattr(session, name, value)
    session.generation = new_generation
    session.token_hash = hash_token(new_token)
    session.token_issued_at = now
    return new_token


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def previous_token_successor(session: Session, token: str, now: datetime) -> str | None:
    """For a token that is the session's *previous* one: its successor if still in grace."""
    if session.previous_token_valid_until is None or now >= session.previous_token_valid_until:
        return None
    # Every key of secret_keys(): a SECRET_KEY rotation inside a grace window must not turn
    # an honest retry into "theft".
    for secret in secret_keys():
        candidate = successor_token(session.id, session.generation, token, secret)
        if constant_time_compare(hash_token(candidate), session.token_hash):
            return candidate
    return None


def report_reuse(session: Session, *, ip_address: str | None, user_agent: str | None, why: str) -> Err:
    """End the whole session: an old token came back, so someone holds a copy."""
    details = {
        "why": why,
        "presented_from": {"ip_address": ip_address, "user_agent": user_agent or ""},
        "session_last_seen": {"ip_address": session.last_ip_address, "user_agent": session.last_user_agent},
        "generation": session.generation,
    }
    was_active = session.ended_at is None
    if was_active:
        end_session(
            session, reason=EndReason.TOKEN_REUSE_DETECTED, event_type=EventType.TOKEN_REUSE_DETECTED, details=details
        )
        transaction.on_commit(
            lambda: signals.token_reuse_detected.send(
                sender=Session, session_id=session.pk, user_ref=session.owner_ref, details=details
            )
        )
    else:
        # Already ended: replaying the copy changes nothing, so a row at most once a minute.
        audit.record_throttled(
            Event.for_session(
                EventType.VALIDATION_FAILED,
                session,
                ip_address=ip_address,
                user_agent=user_agent or "",
                reason=EndReason.TOKEN_REUSE_DETECTED,
                details=details,
            )
        )
    return err(ErrorType.TOKEN_REUSE_DETECTED, "An old session token was reused; the session has ended.", reason=why)
