"""Ending sessions: one row or many, always set-based, always audited and signalled, and
(when stateless-token revocation records them) written to the revocation cache."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, F, Func, QuerySet
from django.db.models.expressions import RawSQL

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


def _ids_in(column: str, ids: list[Any], db_type: str) -> tuple[str, list[Any]]:
    """``column`` (of SQL type ``db_type``) is one of ``ids``. On PostgreSQL the ids are one
    array parameter, unnested: the statement text stays short (the driver need not parse a
    thousand placeholders per batch), and the planner joins it through the column's index
    (with ``= ANY(array)`` it guessed a match per element and scanned a child table whole).
    An ``IN`` list elsewhere."""
    if not ids:
        return "1 = 0", []
    if connection.vendor == "postgresql":
        array, param = _array(ids, db_type)
        return f"{column} IN (SELECT UNNEST({array}))", [param]
    if connection.vendor == "sqlite":  # one parameter: a batch may hold more ids than SQLite takes variables
        return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


ID_SEPARATOR = "\x1f"  # the ASCII unit separator: in no id of ours
TEXT_TYPES = ("varchar", "text", "char")  # columns compared with the text[] string_to_array gives


def _array(ids: list[Any], db_type: str) -> tuple[str, Any]:
    """An array parameter of ``ids``: (its SQL, its value). Text ids go as one string split
    on the server (``string_to_array``): psycopg quotes a list parameter element by element
    through a regular expression, which took a third of a prune's time at 1M sessions; one
    string is escaped in C. Ids of other types (or of a column that is not text), an empty
    id alone, and ids holding the separator go as a list of ``db_type``."""
    try:
        joined = ID_SEPARATOR.join(ids) if db_type.startswith(TEXT_TYPES) else ""
    except TypeError:  # not all strings
        joined = ""
    if joined and joined.count(ID_SEPARATOR) == len(ids) - 1:
        return "string_to_array(%s, chr(31))", joined
    return f"CAST(%s AS {db_type}[])", list(ids)


class IdIn(Func):
    """``field`` is one of ``ids``, as a filter (``queryset.filter(IdIn("pk", ids))``): the
    ORM's ``pk__in`` with :func:`_ids_in`'s single array parameter on PostgreSQL."""

    output_field = BooleanField()

    def __init__(self, field: str, ids: list[Any]) -> None:
        super().__init__(F(field))
        self.ids = list(ids)

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        column_expression = self.source_expressions[0]
        column, params = compiler.compile(column_expression)
        db_type = column_expression.output_field.cast_db_type(connection) or "text"  # None: no SQL type
        condition, id_params = _ids_in(column, self.ids, db_type)
        return condition, [*params, *id_params]


class InBatch(Func):
    """``field = ANY(ids)`` tested on the rows an index range scan yields, never used to
    look ids up one by one: the column goes in as ``column || ''``, an expression no index
    matches, and PostgreSQL checks a constant array of more than eight elements through a
    hash. PostgreSQL only (``pruning._of_batch`` pairs it with the range). The ids
    travel as one string where they can (``_array``)."""

    output_field = BooleanField()

    def __init__(self, field: str, ids: list[str]) -> None:
        super().__init__(F(field))
        self.ids = list(ids)

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        column, params = compiler.compile(self.source_expressions[0])
        array, param = _array(self.ids, "text")
        return f"({column} || '') = ANY({array})", [*params, param]


def _columns() -> tuple[dict[str, str], dict[str, str]]:
    """Quoted column names of the session and audit tables, by field name."""
    qn = connection.ops.quote_name
    session = {f.name: qn(str(f.column)) for f in Session._meta.concrete_fields}
    event = {f.name: qn(str(f.column)) for f in AuditEvent._meta.concrete_fields}
    return session, event


def _audit_insert(source: str) -> str:
    """``INSERT ... SELECT`` of an audit row per session row of ``source`` (a table or a CTE
    with the session's columns), built from the rows themselves: no Python object per row.
    Parameters: created_at, event_type, reason, actor, details."""
    qn = connection.ops.quote_name
    session, event = _columns()
    text = connection.ops.cast_char_field_without_max_length
    columns = ", ".join(event[name] for name in audit.ROW_COLUMNS)
    return (
        f"INSERT INTO {qn(AuditEvent._meta.db_table)} ({columns}) "
        f"SELECT %s, %s, {session['id']}, COALESCE(CAST({session['user']} AS {text}), "
        f"{session['external_user_id']}, ''), {session['last_ip_address']}, "
        f"SUBSTR({session['last_user_agent']}, 1, {audit.MAX_AUDIT_UA_LENGTH}), %s, %s, %s, "
        # the session's stored location is its last IP's: what geo.locate gives the row
        f"{session['country']}, {session['city']}, {session['network']} FROM {source}"
    )


def _update_sql(chosen: str, reason: str, actor: str, now: Any) -> tuple[str, list[Any]]:
    """The UPDATE that ends the still-unended sessions that ``chosen`` (an SQL condition on
    the session's id, without parameters of its own) names. It writes only columns no index
    names (models.Session.Meta), so on PostgreSQL each row is a HOT update."""
    qn = connection.ops.quote_name
    session, _event = _columns()
    ended_at = Session._meta.get_field("ended_at").get_db_prep_save(now, connection)
    return (
        f"UPDATE {qn(Session._meta.db_table)} SET {session['ended_at']} = %s, {session['end_reason']} = %s, "
        f"{session['ended_by']} = %s, {session['data']} = %s "  # request.session's data ends with it
        f"WHERE {chosen} AND {session['ended_at']} IS NULL",
        [ended_at, reason, actor, ""],
    )


def _audit_params(*, event_type: str, reason: str, actor: str, details: dict[str, Any], now: Any) -> list[Any]:
    """``_audit_insert``'s parameters."""
    event_fields = {f.name: f for f in AuditEvent._meta.concrete_fields}
    return [
        event_fields["created_at"].get_db_prep_save(now, connection),
        event_type,
        reason[:60],
        actor[:200],
        event_fields["details"].get_db_prep_save(details, connection),
    ]


def _end_and_audit(ids: list[str], **ending: Any) -> int:
    """Databases other than PostgreSQL: an audit row for each still-unended row of ``ids``
    (``INSERT ... SELECT``), then the UPDATE that ends them, under the rows' lock."""
    qn = connection.ops.quote_name
    session, _event = _columns()
    chosen, id_params = _ids_in(session["id"], ids, "varchar")
    update, update_params = _update_sql(chosen, ending["reason"], ending["actor"], ending["now"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_audit_insert(qn(Session._meta.db_table))} WHERE {chosen} AND {session['ended_at']} IS NULL",
            [*_audit_params(**ending), *id_params],
        )
        cursor.execute(update, [*update_params, *id_params])
        return int(cursor.rowcount)


def end_sessions(
    queryset: QuerySet[Session],
    *,
    reason: str,
    actor: str = "",
    details: dict[str, Any] | None = None,
    event_type: str = EventType.SESSION_INVALIDATED,
    wait_for_disk: bool = True,
) -> int:
    """End every still-active session in ``queryset``; returns how many this call ended.

    Two concurrent calls never both report (and audit) the same session: on PostgreSQL
    the UPDATE rechecks each row it had to wait for (``_end_in_one_statement``), elsewhere
    the rows are read under a lock first (``_end_locked``). Each ``BATCH_SIZE`` ended ids
    are one write to the revocation cache after commit (``services/revocation.py``, when
    ``STATELESS_REVOCATION_CACHE`` is set).

    ``wait_for_disk=False`` (PostgreSQL, outside any transaction; a bulk run's batches)
    commits without waiting for the write-ahead log to reach the disk: the endings are
    visible to every request at once, as always, and durable within ``wal_writer_delay``
    (three times it at most), or when a later commit that does wait returns, as the run's
    summary event does. A crash in between loses the last batches, which the failed run's
    rerun ends. Inside a caller's transaction it is ignored: that commit is the caller's.
    """
    reason, actor = _reason(reason), storable(str(actor))[:MAX_ACTOR_LENGTH]
    now = clock.now()
    # Primary-key order: concurrent runs lock rows in the same order and never deadlock.
    candidates = queryset.filter(ended_at__isnull=True).order_by("pk")
    ending: dict[str, Any] = {
        "event_type": event_type,
        "reason": reason,
        "actor": actor,
        "details": details or {},
        "now": now,
    }
    relax_commit = not wait_for_disk and connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if relax_commit:  # this transaction's own commit only, never a caller's
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if connection.vendor == "postgresql":
            ended = _end_in_one_statement(candidates, rows_wanted=_rows_wanted(), **ending)
        else:
            ended = _end_locked(candidates, **ending)
        if ended.rows:
            _announce(ended.rows, **ending)
    return ended.count


def _rows_wanted() -> bool:
    """Whether anything after commit reads the ended rows (the revocation cache, log lines,
    ``session_invalidated`` listeners); when nothing does, PostgreSQL returns only counts."""
    return revocation.is_recording() or audit.logs_events() or signals.session_invalidated.has_listeners(Session)


# The session columns an ended row hands to its audit row (``_audit_insert``).
_ENDED_COLUMNS = ("id", "user", "external_user_id", "last_ip_address", "last_user_agent", "country", "city", "network")
# What each ended session leaves for the log lines and signals: (id, owner ref, IP, User-Agent).
EndedRow = tuple[str, str, str | None, str]


@dataclass(frozen=True, slots=True)
class _Ended:
    """What one ending statement did: sessions it ended, the ended rows themselves when
    they were wanted, and the ids it locked without ending them (``_end_in_one_statement``)."""

    count: int
    rows: list[EndedRow]
    missed: list[str]


def _end_in_one_statement(candidates: QuerySet[Session], *, rows_wanted: bool, **ending: Any) -> _Ended:
    """PostgreSQL: lock the rows, end them and write their audit rows in one statement
    (``WITH batch AS (SELECT ... FOR UPDATE), ended AS (UPDATE ... RETURNING ...) INSERT
    ... RETURNING``); the log lines and signals follow the audit rows it returns (only
    their count when ``rows_wanted`` is false). The lock rechecks the selection on any row
    a concurrent transaction changed (a session ended by a logout meanwhile is skipped,
    never audited twice).

    The UPDATE finds the locked rows by the physical address the lock read (``ctid``),
    not by a second lookup of each id in the index: about a sixth of a bulk batch's time at
    1M sessions. A row that a transaction changed and committed while the lock waited for
    it is locked in its new version, which the statement's snapshot (taken before that
    commit) does not see at that address; the statement returns the ids it locked without
    ending them, and exactly those rows (still locked by us, so no new row is selected and
    no new lock taken) are ended by id (``by_address=False``)."""
    ended = _end_locked_rows(candidates, by_address=True, rows_wanted=rows_wanted, **ending)
    if not ended.missed:
        return ended
    missed = Session.objects.filter(IdIn("pk", ended.missed), ended_at__isnull=True).order_by("pk")
    again = _end_locked_rows(missed, by_address=False, rows_wanted=rows_wanted, **ending)
    return _Ended(ended.count + again.count, ended.rows + again.rows, again.missed)


def _end_locked_rows(candidates: QuerySet[Session], *, by_address: bool, rows_wanted: bool, **ending: Any) -> _Ended:
    """One statement of ``_end_in_one_statement``: the UPDATE finds the locked rows by
    address (``by_address``) or by id."""
    session, event = _columns()
    table = connection.ops.quote_name(Session._meta.db_table)
    batch = candidates.select_for_update(of=("self",)).annotate(_row=RawSQL(f"{table}.ctid", ()))
    batch_sql, batch_params = batch.values_list("_row", "pk").query.sql_with_params()
    chosen = "ctid = ANY(ARRAY(SELECT row FROM batch))" if by_address else f"{session['id']} IN (SELECT id FROM batch)"
    update, update_params = _update_sql(chosen, ending["reason"], ending["actor"], ending["now"])
    returned = ", ".join(session[name] for name in _ENDED_COLUMNS)
    audited = ", ".join(event[name] for name in ("session_id", "user_ref", "ip_address", "user_agent"))
    missed = f"ARRAY(SELECT id FROM batch WHERE id NOT IN (SELECT {session['id']} FROM ended))"
    if rows_wanted:
        result = f"SELECT locked.missed, audited.* FROM (SELECT {missed} AS missed) AS locked LEFT JOIN audited ON true"
    else:
        result = f"SELECT {missed}, (SELECT count(*) FROM audited)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH batch (row, id) AS ({batch_sql}), "
            f"ended AS ({update} RETURNING {returned}), "
            f"audited AS ({_audit_insert('ended')} RETURNING {audited}) {result}",
            [*batch_params, *update_params, *_audit_params(**ending)],
        )
        found = cursor.fetchall()
    if not rows_wanted:
        return _Ended(count=found[0][1], rows=[], missed=list(found[0][0]))
    rows: list[EndedRow] = [tuple(row[1:]) for row in found if row[1] is not None]  # type: ignore[misc]
    return _Ended(count=len(rows), rows=rows, missed=list(found[0][0]))


def _end_locked(candidates: QuerySet[Session], **ending: Any) -> _Ended:
    """Elsewhere: read the batch (locked where the database can), then end it in chunks of
    ``BATCH_SIZE`` ids (``_end_and_audit``)."""
    rows = list(candidates.select_for_update().values_list(*_AUDIT_COLUMNS))
    for start in range(0, len(rows), BATCH_SIZE):
        ids = [row[0] for row in rows[start : start + BATCH_SIZE]]
        _end_and_audit(ids, **ending)
    ended: list[EndedRow] = [(sid, _ref(uid, ext), ip, ua) for sid, uid, ext, ip, ua in rows]
    return _Ended(count=len(ended), rows=ended, missed=[])


def _announce(
    rows: list[EndedRow], *, event_type: str, reason: str, actor: str, details: dict[str, Any], now: Any
) -> None:
    """After commit: the revocation cache, a log line and a ``session_invalidated`` signal
    per ended session."""
    ids = [sid for sid, _ref_, _ip, _ua in rows]
    for start in range(0, len(ids), BATCH_SIZE):
        revocation.record_ended(ids[start : start + BATCH_SIZE], now)
    audit.log_after_commit(
        Event(
            event_type=event_type,
            session_id=sid,
            user_ref=ref,
            ip_address=ip,
            user_agent=ua,
            reason=reason,
            actor=actor,
            details=details,
        )
        for sid, ref, ip, ua in rows
    )

    def announce() -> None:
        for sid, ref, _ip, _ua in rows:
            signals.session_invalidated.send(sender=Session, session_id=sid, user_ref=ref, reason=reason, actor=actor)

    if signals.session_invalidated.has_listeners(Session):  # a bulk run's 300,000 sends cost a third of a second
        transaction.on_commit(announce)


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
