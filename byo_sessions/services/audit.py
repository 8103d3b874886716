"""Audit trail: every lifecycle event is a row in ``AuditEvent`` and a JSON log line.

Callers pass ids and reasons, never tokens; ``details`` must not hold secrets either.
The log line goes to the logger named by ``AUDIT_LOGGER`` so operators can ship it to
their log pipeline without reading the database.

What a client can repeat at will without changing anything (a dead token replayed, a junk
device proof) goes through ``record_throttled`` or ``record_unknown_token``: a log line every
time, rows bounded, so no client can grow the table without bound.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.db import transaction

from .. import selectors
from ..conf import byo_settings
from ..core import clock
from ..models import AuditEvent, Session
from . import geo

EventType = AuditEvent.Type
# An audit row's columns in the order the set-based writers (ending's INSERT ... SELECT, the
# seeding COPY) fill them.
ROW_COLUMNS = (
    "created_at",
    "event_type",
    "session_id",
    "user_ref",
    "ip_address",
    "user_agent",
    "reason",
    "actor",
    "details",
    "country",
    "city",
    "network",
)

REPEATABLE_WINDOW_SECS = 60
MAX_AUDIT_UA_LENGTH = 1024
GUESSING_REASON = "repeated_unknown_tokens"  # reason of the per-IP row of record_unknown_token

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str
    session_id: str = ""
    user_ref: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    reason: str = ""
    actor: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_session(cls, event_type: str, session: Session, **kwargs: Any) -> Event:
        kwargs.setdefault("ip_address", session.last_ip_address)
        kwargs.setdefault("user_agent", session.last_user_agent)
        return cls(event_type=event_type, session_id=session.id, user_ref=session.owner_ref, **kwargs)


def _logger() -> logging.Logger:
    return logging.getLogger(byo_settings.AUDIT_LOGGER)


def logs_events() -> bool:
    """Whether audit log lines are written (the audit logger takes INFO)."""
    return _logger().isEnabledFor(logging.INFO)


def _log(event: Event, when: str) -> None:
    logger = _logger()
    if logger.isEnabledFor(logging.INFO):
        line = {
            "event": event.event_type,
            "at": when,
            "session_id": event.session_id,
            "user": event.user_ref,
            "ip": event.ip_address,
            "ua": event.user_agent,
            "reason": event.reason,
            "actor": event.actor,
            "details": event.details,
        }
        logger.info(json.dumps(line, default=str, sort_keys=True))


def _row(event: Event) -> AuditEvent:
    location = geo.locate(event.ip_address)  # cached per IP: a bulk ending of many rows looks up each IP once
    return AuditEvent(
        created_at=clock.now(),
        event_type=event.event_type,
        session_id=event.session_id,
        user_ref=event.user_ref[:255],
        ip_address=event.ip_address,
        user_agent=(event.user_agent or "")[:MAX_AUDIT_UA_LENGTH],
        reason=event.reason[:60],
        actor=event.actor[:200],
        details=event.details,
        country=location.country,
        city=location.city,
        network=location.network,
    )


def record(event: Event) -> None:
    """Write the row now and the log line once the transaction commits (a rolled-back
    event must not appear in the logs either)."""
    _save(_row(event), event)


def _save(row: AuditEvent, event: Event) -> None:
    row.save(force_insert=True)
    transaction.on_commit(lambda: _log(event, row.created_at.isoformat()))


def record_throttled(event: Event, *, window_secs: int = REPEATABLE_WINDOW_SECS) -> None:
    """For a refusal the client can repeat without changing anything: a log line every time,
    a row at most once per session (the user's, when there is none), event type, reason and
    ``window_secs``. (Not for anything that changes state: that is always a row.)"""
    row = _row(event)
    if selectors.recent_refusal_exists(
        session_id=row.session_id,
        user_ref=row.user_ref,
        event_type=row.event_type,
        reason=row.reason,
        since=row.created_at - timedelta(seconds=window_secs),
    ):
        _log(event, row.created_at.isoformat())
    else:
        _save(row, event)


def record_unknown_token(event: Event) -> None:
    """A token that names no session (unknown or malformed): a log line every time, no query.

    Per client IP, a counter in Django's default cache (one key per IP and window) turns a
    brute force into one row per IP and ``UNKNOWN_TOKEN_WINDOW_SECS``, written when the count
    reaches ``UNKNOWN_TOKEN_THRESHOLD`` (a guesser learns nothing from it: the reply is the same).
    """
    log_only(event)
    if event.ip_address is None:
        return
    window, threshold = byo_settings.UNKNOWN_TOKEN_WINDOW_SECS, byo_settings.UNKNOWN_TOKEN_THRESHOLD
    start = int(clock.now().timestamp()) // window * window
    count = _count(f"byo_sessions:unknown_tokens:{event.ip_address}:{start}", timeout=window)
    if count == threshold:
        record(
            Event(
                EventType.VALIDATION_FAILED,
                ip_address=event.ip_address,
                user_agent=event.user_agent,
                reason=GUESSING_REASON,
                details={
                    "count": count,
                    "window_secs": window,
                    "window_start": datetime.fromtimestamp(start, UTC).isoformat(),
                },
            )
        )


def _count(key: str, *, timeout: int) -> int | None:
    """Add one to a cache counter; ``None`` when the cache fails (a refusal must stay a refusal)."""
    cache = caches["default"]
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=timeout)
            return 1
    except Exception:  # any cache backend's outage
        logger.warning("byo_sessions: could not count a failed validation in the cache", exc_info=True)
        return None


def record_many(events: Iterable[Event]) -> None:
    """One INSERT for many events (bulk invalidation must stay set-based)."""
    events = list(events)
    rows = [_row(e) for e in events]
    if rows:
        AuditEvent.objects.bulk_create(rows, batch_size=500)

        def log_all() -> None:
            for event, row in zip(events, rows, strict=True):
                _log(event, row.created_at.isoformat())

        transaction.on_commit(log_all)


def log_after_commit(events: Iterable[Event]) -> None:
    """The log lines of events whose rows a set-based statement wrote (``ending.py``)."""
    when = clock.now().isoformat()
    if _logger().isEnabledFor(logging.INFO):
        events = list(events)

        def log_all() -> None:
            for event in events:
                _log(event, when)

        transaction.on_commit(log_all)


def log_only(event: Event) -> None:
    """For events with no session to attach (a garbage token): a log line, no row."""
    _log(event, clock.now().isoformat())
