"""Reads. The hot one (session + user by token hash) bypasses the ORM's query building.

Building a query through the ORM costs several times what PostgreSQL needs to answer
it (measured: ~480 us for ``.get()`` vs ~115 us for the same SELECT on a cursor). The
statement here is compiled once per database alias from the models' metadata, run on a
cursor, and its rows turned into model instances with the backend's own converters and
``Model.from_db``, so callers get ordinary ``Session`` and user objects. On PostgreSQL the
row's timestamps travel as integers and the token hash as a literal (``_reads_micros``,
``_plain_literals``): the same values, with less per-request work in Python.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.db.models import Count, Q
from django.db.models.base import ModelState
from django.db.models.signals import ModelSignal, post_init, pre_init
from django.dispatch.dispatcher import NO_RECEIVERS

from .conf import byo_settings
from .models import AuditEvent, EndReason, RetiredToken, Session, SessionQuerySet, UsedProof

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Statement:
    """One hot statement, written with ``$n`` parameters as PREPARE takes them."""

    prepare_sql: str
    digest: str  # names its prepared statement (one per statement text)
    sql: str  # the same with ``%s`` placeholders, for a cursor
    order: tuple[int, ...]  # which parameter each ``%s`` takes (0-based)

    @classmethod
    def of(cls, prepare_sql: str) -> _Statement:
        return cls(
            prepare_sql=prepare_sql,
            digest=hashlib.sha256(prepare_sql.encode()).hexdigest()[:12],
            sql=re.sub(r"\$\d+", "%s", prepare_sql),
            order=tuple(int(n) - 1 for n in re.findall(r"\$(\d+)", prepare_sql)),
        )


@dataclass(frozen=True)
class _Plan:
    read: _Statement  # the session and its user by token hash
    # The same read that also records a device proof as spent (``session_recording_proof``):
    # a data-modifying CTE, so PostgreSQL only.
    read_recording_proof: _Statement
    user_model: type[models.Model]
    session_fields: list[str]
    user_fields: list[str]
    converters: list[tuple[int, list[Converter], Any]]
    n_session: int
    micros_columns: tuple[int, ...] = ()  # timestamps read as microseconds since the epoch (``_reads_micros``)


_plans: dict[tuple[str, str, Any], _Plan] = {}

M = TypeVar("M", bound=models.Model)


# Session columns the per-request path never reads: left out of the hot row (they are
# deferred on the instance it returns; reading one would cost a query, so keep this list
# to what validation, rotation and ending truly do not touch).
COLD_SESSION_COLUMNS = frozenset(
    {
        "client",
        "user_agent",
        "ended_by",
        "previous_token_valid_until",
        "authenticated_at",
        "authentication_factors",
        "reauthentication_failures",
        "city",
        "network",
    }
)


def _concrete(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _plan(alias: str) -> _Plan:
    connection = connections[alias]
    # A swapped user model (tests) gets its own statement, and so does another time zone
    # of the connection (``_reads_micros``).
    key = (alias, settings.AUTH_USER_MODEL, connection.timezone)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    user_model = get_user_model()

    def qn(name: str | None) -> str:
        return connection.ops.quote_name(str(name))

    s_fields = [f for f in _concrete(Session) if f.attname not in COLD_SESSION_COLUMNS]
    u_fields = _concrete(user_model)
    s_table, u_table = Session._meta.db_table, user_model._meta.db_table
    micros = _reads_micros(connection)
    columns = []
    micros_columns = []
    for index, (field, table) in enumerate([(f, "s") for f in s_fields] + [(f, "u") for f in u_fields]):
        column = f"{table}.{qn(field.column)}"
        if micros and field.db_type(connection) == "timestamp with time zone":
            column = f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
            micros_columns.append(index)
        columns.append(column)
    user_fk = Session._meta.get_field("user")
    select = ", ".join(columns)
    from_where = (
        f" FROM {qn(s_table)} s "
        f"LEFT OUTER JOIN {qn(u_table)} u ON s.{qn(user_fk.column)} = u.{qn(user_model._meta.pk.column)} "
        f"WHERE s.{qn(Session._meta.get_field('token_hash').column)} = $1"
    )
    converters = []
    for index, (field, alias_name) in enumerate([(f, "s") for f in s_fields] + [(f, "u") for f in u_fields]):
        expression = field.get_col(alias_name)
        funcs = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if funcs:
            converters.append((index, funcs, expression))
    plan = _Plan(
        read=_Statement.of(f"SELECT {select}{from_where}"),
        read_recording_proof=_Statement.of(
            f"{_recording_proof(connection, qn)}SELECT {select}, (SELECT COUNT(*) FROM recorded){from_where}"
        ),
        user_model=user_model,
        session_fields=[f.attname for f in s_fields],
        user_fields=[f.attname for f in u_fields],
        converters=converters,
        n_session=len(s_fields),
        micros_columns=tuple(micros_columns),
    )
    _plans[key] = plan
    return plan


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _reads_micros(connection: Any) -> bool:
    """Whether the hot row reads its timestamps as whole microseconds since the epoch.

    Django loads each ``timestamptz`` of a PostgreSQL row in Python (psycopg's loader, then
    ``replace(tzinfo=...)``): ~4.6 CPU us per value, and the row has six. An integer loads
    in C and ``_EPOCH + timedelta`` builds the same aware UTC datetime in ~2 us (PostgreSQL
    spends ~1.5 us more per row on the ``EXTRACT``s than on printing timestamps). Only where
    Django would give UTC datetimes (``USE_TZ`` with the database's ``TIME_ZONE`` unset);
    elsewhere the columns are read as they are."""
    return connection.vendor == "postgresql" and connection.timezone is UTC


def _recording_proof(connection: Any, qn: Callable[[str | None], str]) -> str:
    """``WITH recorded AS (INSERT ...)``: a proof's replay key ($2, remembered until $3),
    recorded when the session of token hash $1 is bound to the key of thumbprint $4."""
    used = UsedProof._meta
    jti, expires = used.get_field("jti_hash"), used.get_field("expires_at")
    token_hash, thumbprint = (Session._meta.get_field(name) for name in ("token_hash", "device_thumbprint"))
    return (
        f"WITH recorded AS (INSERT INTO {qn(used.db_table)} ({qn(jti.column)}, {qn(expires.column)}) "  # type: ignore[union-attr]
        f"SELECT $2::{jti.db_type(connection)}, $3::{expires.db_type(connection)} "  # type: ignore[union-attr]
        f"FROM {qn(Session._meta.db_table)} "
        f"WHERE {qn(token_hash.column)} = $1 AND {qn(thumbprint.column)} = $4 "  # type: ignore[union-attr]
        f"ON CONFLICT ({qn(jti.column)}) DO NOTHING RETURNING 1) "  # type: ignore[union-attr]
    )


def session_by_token_hash(token_hash: str, *, using: str = "default") -> Session | None:
    """The session whose *current* token has this hash, with its user loaded (one query)."""
    plan = _plan(using)
    connection = connections[using]
    with connection.cursor() as cursor:
        row = _fetch_hot_row(connection, cursor, plan.read, [token_hash])
    return None if row is None else _instances(plan, using, connection, list(row))


@dataclass(frozen=True, slots=True)
class ProofToRecord:
    """A request's device proof as read before verifying it (``dpop.peek_replay_key``)."""

    thumbprint: str
    replay_key: str
    expires_at: datetime


def can_record_proof_with_session(using: str = "default") -> bool:
    """Whether ``session_recording_proof`` can fold the proof's INSERT into the read: on
    PostgreSQL, when spent proofs are written to the database the session is read from."""
    return connections[using].vendor == "postgresql" and router.db_for_write(UsedProof) == using


def session_recording_proof(
    token_hash: str, proof: ProofToRecord, *, using: str = "default"
) -> tuple[Session | None, bool]:
    """``session_by_token_hash`` that records the proof as spent in the same statement
    (PostgreSQL only: ``can_record_proof_with_session``), so a proved request costs one
    round trip, as an unproved one does. The proof is recorded only when this token's
    session is bound to the proof's key (a stolen cookie without the key records nothing),
    before the proof is verified: a proof that then fails has spent a ``jti`` its honest
    signer will never send again. Returns the session and whether this statement recorded
    the proof (False: already spent, or not this session's key)."""
    plan = _plan(using)
    connection = connections[using]
    params = [token_hash, proof.replay_key, proof.expires_at, proof.thumbprint]
    with connection.cursor() as cursor:
        row = _fetch_hot_row(connection, cursor, plan.read_recording_proof, params)
    if row is None:
        return None, False
    values = list(row)
    recorded = bool(values.pop())
    return _instances(plan, using, connection, values), recorded


def _instances(plan: _Plan, using: str, connection: Any, values: list[Any]) -> Session:
    for index in plan.micros_columns:
        micros = values[index]
        if micros is not None:
            values[index] = _EPOCH + timedelta(microseconds=micros)
    for index, funcs, expression in plan.converters:
        value = values[index]
        for func in funcs:
            value = func(value, expression, connection)
        values[index] = value
    session = _from_db(Session, using, plan.session_fields, values[: plan.n_session])
    user_values = values[plan.n_session :]
    # Into the relation's cache, as ``select_related`` leaves it (the assignment's descriptor
    # would also ask the routers whether two rows of one query may be related).
    if session.user_id is not None and user_values[0] is not None:
        _USER_FIELD.set_cached_value(session, _from_db(plan.user_model, using, plan.user_fields, user_values))
    elif session.user_id is None:
        _USER_FIELD.set_cached_value(session, None)
    return session


_USER_FIELD = Session._meta.get_field("user")


# Per physical PostgreSQL connection: the name its hot statement is prepared under.
_prepared: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
_attempts = itertools.count()


def _fetch_hot_row(connection: Any, cursor: Any, statement: _Statement, params: list[Any]) -> Any:
    """The hot row, through a prepared statement where that is safe.

    Planning the join costs PostgreSQL more than running it (EXPLAIN: ~2x). A statement
    prepared on the connection is planned once (a generic plan after five runs), so
    later requests skip planning. It stays one round trip and one query as Django counts
    them: the first run on a connection sends ``PREPARE ...; EXECUTE ...`` in one string,
    later runs ``EXECUTE``. ``PREPARE`` outlives a rollback, and a fresh connection (a
    reconnect, ``CONN_MAX_AGE=0``) prepares again. Off where a prepared statement may not
    be there next time: ``PREPARED_HOT_QUERY`` False, a database marked
    ``DISABLE_SERVER_SIDE_CURSORS`` (Django's flag for transaction-pooling PgBouncer), or
    server-side binding (psycopg prepares by itself under ``prepare_threshold``)."""
    if not _can_prepare(connection):
        cursor.execute(statement.sql, [params[i] for i in statement.order])
        return cursor.fetchone()
    raw = connection.connection
    names = _prepared.get(raw)
    name = names.get(statement.digest) if names is not None else None
    arguments = ", ".join(["%s"] * len(params))
    if name is not None:
        literals = _plain_literals(params)
        if literals is not None:
            cursor.execute(f"EXECUTE {name}({literals})")
        else:
            cursor.execute(f"EXECUTE {name}({arguments})", params)
        return cursor.fetchone()
    # A new name per attempt: if an attempt fails after its PREPARE ran, the name is taken.
    name = f"byo_hot_{statement.digest}_{next(_attempts)}"
    cursor.execute(f"PREPARE {name} AS {statement.prepare_sql}; EXECUTE {name}({arguments})", params)
    cursor.nextset()
    row = cursor.fetchone()
    _prepared.setdefault(raw, {})[statement.digest] = name
    return row


_PLAIN = re.compile(r"[0-9A-Za-z_-]+")


def _plain_literals(params: list[Any]) -> str | None:
    """``params`` written as SQL literals, when every one is a string of letters, digits,
    ``-`` and ``_`` (a token hash): such a value cannot end or escape its quotes. Sent
    without parameters, psycopg has nothing to adapt and quote (~15 CPU us per request)."""
    literals = []
    for value in params:
        if not isinstance(value, str) or _PLAIN.fullmatch(value) is None:
            return None
        literals.append(f"'{value}'")
    return ", ".join(literals)


def _can_prepare(connection: Any) -> bool:
    if connection.vendor != "postgresql" or not byo_settings.PREPARED_HOT_QUERY:
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # psycopg2 has no nextset()

    settings_dict = connection.settings_dict
    return bool(
        is_psycopg3
        and not settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        and not settings_dict.get("OPTIONS", {}).get("server_side_binding")
    )


def _from_db(model: type[M], using: str, names: list[str], values: list[Any]) -> M:
    """``model.from_db(using, names, values)``, without ``Model.__init__``'s per-field loop
    when nothing could tell the difference: the model keeps Django's ``__init__`` and
    ``from_db`` and no ``pre_init``/``post_init`` receiver listens to it (a field tracker,
    an ``ImageField``). The instance is then the one ``from_db`` builds: the values in its
    ``__dict__`` by attname, the fields left out deferred, ``_state`` loaded from ``using``."""
    if (
        model.__init__ is not models.Model.__init__
        or model.from_db.__func__ is not _MODEL_FROM_DB  # type: ignore[attr-defined]
        or _heard(pre_init, model)
        or _heard(post_init, model)
    ):
        return model.from_db(using, names, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = ModelState()
    state.adding, state.db = False, using
    instance._state = state
    return instance


_MODEL_FROM_DB = models.Model.from_db.__func__  # type: ignore[attr-defined]


def _heard(signal: ModelSignal, model: type[models.Model]) -> bool:
    """Whether a receiver listens to ``signal`` for ``model``: none when the signal has no
    receiver at all (the usual case for ``pre_init``), else the answer ``send()`` caches
    (cleared by ``connect``/``disconnect``), else ``has_listeners``."""
    if not signal.receivers or signal.sender_receivers_cache.get(model) is NO_RECEIVERS:
        return False
    return signal.has_listeners(model)


def session_by_previous_hash(token_hash: str) -> Session | None:
    return Session.objects.select_related("user").filter(previous_token_hash=token_hash).first()


def retired_token(token_hash: str) -> RetiredToken | None:
    return RetiredToken.objects.select_related("session").filter(token_hash=token_hash).first()


# --- expiry ---------------------------------------------------------------------------------


class ExpiryRow(NamedTuple):
    id: str
    created_at: datetime
    last_activity_at: datetime
    expires_at: datetime
    tags: list[str]
    user_id: Any
    external_user_id: str | None


def expiry_rows(queryset: SessionQuerySet, now: datetime, order: tuple[str, ...] = ()) -> Iterator[ExpiryRow]:
    """The ``live(now)`` sessions of ``queryset`` as the few columns ``services/expiry.py``
    needs to decide each one's policy expiry (no model instances: there may be many)."""
    rows = queryset.live(now)
    if order:
        rows = rows.order_by(*order)
    for values in rows.values_list(*ExpiryRow._fields):
        yield ExpiryRow(*values)


@dataclass(frozen=True, slots=True)
class SessionCounts:
    live: int  # not ended, before the stored absolute expiry
    expired_unmarked: int  # not ended, past the stored absolute expiry
    ended_by_reason: list[tuple[str, str, int]]  # (reason, label, count), most frequent first


def session_counts(now: datetime) -> SessionCounts:
    """Counts over every session: one aggregate query, grouped by end reason (a live row's
    is ""). Most rows match whatever the state, so it is one table scan either way, and no
    index on ``ended_at`` is kept for it (models.Session.Meta)."""
    unended = Q(ended_at__isnull=True)
    rows = list(
        Session.objects.order_by()
        .values("end_reason")
        .annotate(
            live=Count("id", filter=unended & Q(expires_at__gt=now)),
            expired=Count("id", filter=unended & Q(expires_at__lte=now)),
            ended=Count("id", filter=Q(ended_at__isnull=False)),
        )
    )
    labels = dict(EndReason.choices)
    ended = sorted(((row["end_reason"], row["ended"]) for row in rows if row["ended"]), key=lambda r: -r[1])
    return SessionCounts(
        live=sum(row["live"] for row in rows),
        expired_unmarked=sum(row["expired"] for row in rows),
        ended_by_reason=[(reason, labels.get(reason, reason), n) for reason, n in ended],
    )


# --- audit trail ----------------------------------------------------------------------------


def event_counts(*, since: datetime, event_types: Iterable[str]) -> dict[str, int]:
    """How many audit events of each type since ``since``: one aggregate query."""
    return dict(
        AuditEvent.objects.filter(created_at__gte=since, event_type__in=list(event_types))
        .values_list("event_type")
        .annotate(n=Count("id"))
        .values_list("event_type", "n")
    )


def session_timeline(session_id: str, *, limit: int = 200) -> list[AuditEvent]:
    """A session's audit events, oldest first (kept after its row is pruned)."""
    return list(AuditEvent.objects.filter(session_id=session_id).order_by("created_at", "id")[:limit])


# A refusal is recorded once per window; a session or user has few rows in one, so this
# many is more than enough (past it, one more row may be written: harmless).
RECENT_ROWS_READ = 200


def recent_refusal_exists(*, session_id: str, user_ref: str, event_type: str, reason: str, since: datetime) -> bool:
    """Whether this session (or, with no session, this user) already has an audit row of this
    type and reason since ``since``.

    The query names only the columns of one index, ``(session_id, created_at)`` or
    ``(user_ref, created_at)``, and the type and reason are compared here. With them in the
    WHERE clause, a planner whose statistics predate a burst of one event type (an incident:
    the very time this runs most) walked the type index through the whole burst: 26.7 ms
    against 0.03 ms per check, 20,000 refusals in 4 minutes over 1.8M audit rows."""
    if session_id:
        rows = AuditEvent.objects.filter(session_id=session_id, created_at__gt=since)
        wanted: tuple[str, ...] = (user_ref, event_type, reason)
        columns: tuple[str, ...] = ("user_ref", "event_type", "reason")
    else:
        rows = AuditEvent.objects.filter(user_ref=user_ref, created_at__gt=since)
        wanted, columns = ("", event_type, reason), ("session_id", "event_type", "reason")
    return any(tuple(row) == wanted for row in rows.values_list(*columns)[:RECENT_ROWS_READ])
