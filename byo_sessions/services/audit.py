"""Audit trail: every lifecycle event is a row in ``AuditEvent`` and a JSON log line.

Callers pass ids and reasons, never tokens; ``details`` must not hold secrets either.
The log line goes to the logger named by ``AUDIT_LOGGER`` so operators can ship it to
their log pipeline without reading the database.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from ..core import clock
from ..conf import byo_settings
from ..models import AuditEvent, Session

EventType = AuditEvent.Type


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
    def for_session(cls, event_type: str, session: Session, **kwargs: Any) -> "Event":
        kwargs.setdefault("ip_address", session.last_ip_address)
        kwargs.setdefault("user_agent", session.last_user_agent)
        return cls(event_type=event_type, session_id=session.id, user_ref=session.owner_ref, **kwargs)


def _logger() -> logging.Logger:
    return logging.getLogger(byo_settings.AUDIT_LOGGER)


def _log(event: Event, when: str) -> None:
    logger = _logger()
    if logger.isEnabledFor(logging.INFO):
        line = {"event": event.event_type, "at": when, "session_id": event.session_id, "user": event.user_ref,
                "ip": event.ip_address, "reason": event.reason, "actor": event.actor, "details": event.details}
        logger.info(json.dumps(line, default=str, sort_keys=True))


def _row(event: Event) -> AuditEvent:
    return AuditEvent(
        created_at=clock.now(),
        event_type=event.event_type,
        session_id=event.session_id,
        user_ref=event.user_ref[:255],
        ip_address=event.ip_address,
        user_agent=(event.user_agent or "")[:1024],
        reason=event.reason[:60],
        actor=event.actor[:200],
        details=event.details,
    )


def record(event: Event) -> None:
    """Write the row now and the log line once the transaction commits (a rolled-back
    event must not appear in the logs either)."""
    row = _row(event)
    row.save(force_insert=True)
    transaction.on_commit(lambda: _log(event, row.created_at.isoformat()))


def record_many(events: Iterable[Event]) -> None:
    """One INSERT for many events (bulk invalidation must stay set-based)."""
    events = list(events)
    rows = [_row(e) for e in events]
    if rows:
        AuditEvent.objects.bulk_create(rows, batch_size=500)

        def log_all() -> None:
            for event, row in zip(events, rows):
                _log(event, row.created_at.isoformat())

        transaction.on_commit(log_all)


def log_only(event: Event) -> None:
    """For events with no session to attach (a garbage token): a log line, no row."""
    _log(event, clock.now().isoformat())
