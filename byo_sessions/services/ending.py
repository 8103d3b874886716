"""Ending sessions: one row or many, always set-based, always audited and signalled, and
(when stateless-token revocation records them) written to the revocation cache."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from .. import signals
from ..core import clock
from ..core.text import storable
from ..models import AuditEvent, Session
from . import audit, revocation
from .audit import Event, EventType

_AUDIT_COLUMNS = ("id", "user_id", "external_user_id", "last_ip_address", "last_user_agent")
MAX_REASON_LENGTH = Session._meta.get_field("end_reason").max_length or 40
MAX_ACTOR_LENGTH = Session._meta.get_field("ended_by").max_length or 200
BATCH_SIZE = 1000  # ids per UPDATE and per revocation-cache write


def _reason(reason: Any) -> str:
    """Callers' free text, as the column stores it."""
    return storable(str(reason))[:MAX_REASON_LENGTH]


def _ref(user_id: Any, external_user_id: str | None) -> str:
    """``Session.owner_ref`` of a row read as values (\"\" when anonymous)."""
    if user_id is not None:
        return str(user_id)
    return "" if external_user_id is None else external_user_id


def _audit_ending(
    ids: list[str], *, event_type: str, reason: str, actor: str, details: dict[str, Any], now: Any
) -> None:
    """One ``INSERT ... SELECT`` of an audit row per session in ``ids``, built from the rows
    themselves: no Python object per row, so a batch of thousands costs one statement."""
    qn = connection.ops.quote_name
    event_fields = {f.name: f for f in AuditEvent._meta.concrete_fields}
    text = connection.ops.cast_char_field_without_max_length
    columns = ", ".join(qn(str(event_fields[name].column)) for name in audit.ROW_COLUMNS)
    session = {f.name: qn(str(f.column)) for f in Session._meta.concrete_fields}
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"INSERT INTO {qn(AuditEvent._meta.db_table)} ({columns}) "
        f"SELECT %s, %s, {session['id']}, COALESCE(CAST({session['user']} AS {text}), "
        f"{session['external_user_id']}, ''), {session['last_ip_address']}, "
        f"SUBSTR({session['last_user_agent']}, 1, {audit.MAX_AUDIT_UA_LENGTH}), %s, %s, %s, "
        # the session's stored location is its last IP's: what geo.locate gives the row
        f"{session['country']}, {session['city']}, {session['network']} "
        f"FROM {qn(Session._meta.db_table)} WHERE {session['id']} IN ({placeholders})"
    )
    params = [
        event_fields["created_at"].get_db_prep_save(now, connection),
        event_type,
        reason[:60],
        actor[:200],
        event_fields["details"].get_db_prep_save(details, connection),
        *ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def end_sessions(
    queryset: QuerySet[Session],
    *,
    reason: str,
    actor: str = "",
    details: dict[str, Any] | None = None,
    event_type: str = EventType.SESSION_INVALIDATED,
) -> int:
    """End every still-active session in ``queryset``; returns how many this call ended.

    Rows are locked (PostgreSQL) before the UPDATE so two concurrent bulk calls never
    both report (and audit) the same session. The UPDATE runs in batches of ``BATCH_SIZE``
    ids, and each batch is one write to the revocation cache after commit
    (``services/revocation.py``, when ``STATELESS_REVOCATION_CACHE`` is set).
    """
    reason, actor = _reason(reason), storable(str(actor))[:MAX_ACTOR_LENGTH]
    now = clock.now()
    with transaction.atomic():
        rows = list(
            queryset.filter(ended_at__isnull=True).order_by("pk").select_for_update().values_list(*_AUDIT_COLUMNS)
        )
        if not rows:
            return 0
        ended = 0
        for start in range(0, len(rows), BATCH_SIZE):
            ids = [row[0] for row in rows[start : start + BATCH_SIZE]]
            _audit_ending(ids, event_type=event_type, reason=reason, actor=actor, details=details or {}, now=now)
            ended += Session.objects.filter(id__in=ids, ended_at__isnull=True).update(
                ended_at=now,
                end_reason=reason,
                ended_by=actor,
                data="",  # request.session's data ends with it
            )
            revocation.record_ended(ids, now)
        audit.log_after_commit(
            Event(
                event_type=event_type,
                session_id=sid,
                user_ref=_ref(uid, ext),
                ip_address=ip,
                user_agent=ua,
                reason=reason,
                actor=actor,
                details=details or {},
            )
            for sid, uid, ext, ip, ua in rows
        )
        ended_refs = [(sid, _ref(uid, ext)) for sid, uid, ext, _ip, _ua in rows]

        def announce() -> None:
            for sid, ref in ended_refs:
                signals.session_invalidated.send(
                    sender=Session, session_id=sid, user_ref=ref, reason=reason, actor=actor
                )

        transaction.on_commit(announce)
    return ended


def end_session(
    session: Session,
    *,
    reason: str,
    actor: str = "",
    details: dict[str, Any] | None = None,
    event_type: str = EventType.SESSION_INVALIDATED,
) -> bool:
    ended = end_sessions(
        Session.objects.filter(pk=session.pk), reason=reason, actor=actor, details=details, event_type=event_type
    )
    if ended:
        session.ended_at = clock.now()
        session.end_reason = _reason(reason)
    return bool(ended)


def record_deleted_user(*, user_id: Any) -> None:
    """A deleted user's sessions go with the row (CASCADE) without being ended: when the
    revocation cache records endings, these ids are recorded too, so the stateless tokens
    minted from them do not outlive the user."""
    if not revocation.is_recording():
        return
    ids = list(Session.objects.filter(user_id=user_id, ended_at__isnull=True).values_list("id", flat=True))
    now = clock.now()
    for start in range(0, len(ids), BATCH_SIZE):
        revocation.record_ended(ids[start : start + BATCH_SIZE], now)
