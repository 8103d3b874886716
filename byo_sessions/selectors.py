"""Reads. The hot one (session + user by token hash) bypasses the ORM's query building.

Building a query through the ORM costs several times what PostgreSQL needs to answer
it (measured: ~480 us for ``.get()`` vs ~115 us for the same SELECT on a cursor). The
statement here is compiled once per database alias from the models' metadata, run on a
cursor, and its rows turned into model instances with the backend's own converters and
``Model.from_db``, so callers get ordinary ``Session`` and user objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connections, models
from django.db.models import Count, Q

from .models import AuditEvent, EndReason, RetiredToken, Session, SessionQuerySet

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    session_fields: list[str]
    user_fields: list[str]
    converters: list[tuple[int, list[Converter], Any]]
    n_session: int


_plans: dict[tuple[str, str], _Plan] = {}


# Session columns the per-request path never reads: left out of the hot row (they are
# deferred on the instance it returns; reading one would cost a query, so keep this list
# to what validation, rotation and ending truly do not touch).
COLD_SESSION_COLUMNS = frozenset({"client", "user_agent", "ended_by", "previous_token_valid_until",
                                  "authenticated_at", "authentication_factors", "reauthentication_failures",
                                  "city", "network"})


def _concrete(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _plan(alias: str) -> _Plan:
    user_model = get_user_model()
    key = (alias, user_model._meta.label)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    connection = connections[alias]
    def qn(name: str | None) -> str:
        return connection.ops.quote_name(str(name))

    s_fields = [f for f in _concrete(Session) if f.attname not in COLD_SESSION_COLUMNS]
    u_fields = _concrete(user_model)
    s_table, u_table = Session._meta.db_table, user_model._meta.db_table
    columns = [f"s.{qn(f.column)}" for f in s_fields] + [f"u.{qn(f.column)}" for f in u_fields]
    user_fk = Session._meta.get_field("user")
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(s_table)} s "
        f"LEFT OUTER JOIN {qn(u_table)} u ON s.{qn(user_fk.column)} = u.{qn(user_model._meta.pk.column)} "
        f"WHERE s.{qn(Session._meta.get_field('token_hash').column)} = %s"
    )
    converters = []
    for index, (field, alias_name) in enumerate([(f, "s") for f in s_fields] + [(f, "u") for f in u_fields]):
        expression = field.get_col(alias_name)
        funcs = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if funcs:
            converters.append((index, funcs, expression))
    plan = _Plan(
        sql=sql,
        session_fields=[f.attname for f in s_fields],
        user_fields=[f.attname for f in u_fields],
        converters=converters,
        n_session=len(s_fields),
    )
    _plans[key] = plan
    return plan


def session_by_token_hash(token_hash: str, *, using: str = "default") -> Session | None:
    """The session whose *current* token has this hash, with its user loaded (one query)."""
    plan = _plan(using)
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, funcs, expression in plan.converters:
        value = values[index]
        for func in funcs:
            value = func(value, expression, connection)
        values[index] = value
    session = Session.from_db(using, plan.session_fields, values[: plan.n_session])
    user_values = values[plan.n_session :]
    if session.user_id is not None and user_values[0] is not None:
        session.user = get_user_model().from_db(using, plan.user_fields, user_values)
    elif session.user_id is None:
        session.user = None
    return session


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
    """Counts over every session: two aggregate queries."""
    from_stored = Session.objects.filter(ended_at__isnull=True).aggregate(
        live=Count("id", filter=Q(expires_at__gt=now)), expired=Count("id", filter=Q(expires_at__lte=now)))
    labels = dict(EndReason.choices)
    ended = (Session.objects.filter(ended_at__isnull=False).values("end_reason").annotate(n=Count("id"))
             .order_by("-n"))
    return SessionCounts(live=from_stored["live"], expired_unmarked=from_stored["expired"],
                         ended_by_reason=[(row["end_reason"], labels.get(row["end_reason"], row["end_reason"]),
                                           row["n"]) for row in ended])


# --- audit trail ----------------------------------------------------------------------------

def event_counts(*, since: datetime, event_types: Iterable[str]) -> dict[str, int]:
    """How many audit events of each type since ``since``: one aggregate query."""
    return dict(AuditEvent.objects.filter(created_at__gte=since, event_type__in=list(event_types))
                .values_list("event_type").annotate(n=Count("id")).values_list("event_type", "n"))


def session_timeline(session_id: str, *, limit: int = 200) -> list[AuditEvent]:
    """A session's audit events, oldest first (kept after its row is pruned)."""
    return list(AuditEvent.objects.filter(session_id=session_id).order_by("created_at", "id")[:limit])


def recent_refusal_exists(*, session_id: str, user_ref: str, event_type: str, reason: str, since: datetime) -> bool:
    """Whether this session (or, with no session, this user) already has an audit row of this
    type and reason since ``since``."""
    return AuditEvent.objects.filter(session_id=session_id, user_ref=user_ref, event_type=event_type, reason=reason,
                                     created_at__gt=since).exists()
