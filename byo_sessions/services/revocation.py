"""Opt-in revocation of stateless tokens: the ids of ended sessions, kept in Django's cache.

A stateless token is verified without a query, so on its own it outlives the session it
was minted from until its ``exp``. When ``STATELESS_REVOCATION_CACHE`` names a cache,
every ending of sessions (``services/ending.py``, the one place sessions end) records the
ended ids there, once the ending commits, for as long as a token minted before the end
could still be current (``STATELESS_TOKEN_MAX_LIFETIME_SECS`` and a margin). Verification
that asks for the check (``STATELESS_REVOCATION_CHECK`` or a per-call flag) then costs one
cache read for a token that names a session (``sid``), never a query.

A cache that cannot be read fails the check closed (``RevocationUnavailable``: an
``UnexpectedError``, 503), unless ``STATELESS_REVOCATION_FAIL_OPEN`` accepts the token:
then a token of a session ended a moment ago works until its ``exp`` while the cache is
down. A record that cannot be written is logged (the ending itself has committed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.core.cache import BaseCache, caches
from django.db import transaction

from ..conf import byo_settings
from ..values import Err, ErrorType, SessionError

logger = logging.getLogger("byo_sessions")

KEY_PREFIX = "byo_sessions:ended:"
MARGIN_SECS = 60  # clocks of the processes that mint, end and verify may differ a little


class RevocationUnavailable(Exception):
    """The check was asked for but cannot be made: the cache cannot be read, or no cache
    is configured. Our fault, not the token's, so callers answer 503, not 401."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.error = SessionError(ErrorType.UNEXPECTED_ERROR, {"message": message, "reason": reason})

    def as_err(self) -> Err:
        return Err(self.error)


def is_recording() -> bool:
    return byo_settings.STATELESS_REVOCATION_CACHE is not None


def _cache() -> BaseCache:
    return caches[byo_settings.STATELESS_REVOCATION_CACHE]


def key(session_id: str) -> str:
    return KEY_PREFIX + session_id


def ttl_secs() -> int:
    """How long a record must live: the longest-lived token its session could have minted."""
    return int(byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS) + MARGIN_SECS


def record_ended(session_ids: Sequence[str], ended_at: datetime) -> None:
    """After the surrounding transaction commits (an ending that rolls back revokes nothing),
    one ``set_many`` for these ids. Called per batch of ended sessions."""
    if not session_ids or not is_recording():
        return
    ids = list(session_ids)
    transaction.on_commit(lambda: _write(ids, int(ended_at.timestamp())))


def _write(session_ids: list[str], ended_at: int) -> None:
    try:
        failed = _cache().set_many({key(sid): ended_at for sid in session_ids}, timeout=ttl_secs())
    except Exception:  # noqa: BLE001 - any backend's connection error; the ending has committed
        logger.exception(
            "byo_sessions: could not record %d ended session(s) in the revocation cache; their "
            "stateless tokens stay valid until they expire",
            len(session_ids),
        )
        return
    if failed:
        logger.error(
            "byo_sessions: the revocation cache refused %d of %d ended session(s); their stateless "
            "tokens stay valid until they expire",
            len(failed),
            len(session_ids),
        )


def should_check(check_revocation: bool | None) -> bool:
    return bool(byo_settings.STATELESS_REVOCATION_CHECK) if check_revocation is None else check_revocation


def ended_at(session_id: str) -> int | None:
    """When the session ended (Unix seconds) if it ended within the record's lifetime, else
    None: one cache read. Raises ``RevocationUnavailable`` when the answer is unknown and
    ``STATELESS_REVOCATION_FAIL_OPEN`` is off."""
    if not is_recording():
        raise RevocationUnavailable(
            "revocation_not_configured", "Revocation was asked for, but STATELESS_REVOCATION_CACHE names no cache."
        )
    try:
        found = _cache().get(key(session_id))
    except Exception:  # noqa: BLE001 - any backend's connection error
        if byo_settings.STATELESS_REVOCATION_FAIL_OPEN:
            logger.warning(
                "byo_sessions: the revocation cache cannot be read; accepting a stateless token "
                "unchecked (STATELESS_REVOCATION_FAIL_OPEN)",
                exc_info=True,
            )
            return None
        raise RevocationUnavailable(
            "revocation_cache_unavailable", "The revocation cache cannot be read, so the token cannot be checked."
        ) from None
    if found is None:
        return None
    return found if isinstance(found, int) and not isinstance(found, bool) else 0  # a record, whatever its shape
