"""Concurrent session limits, enforced inside the transaction that creates a session.

Creations for one user are serialised with a transaction-scoped lock so that N parallel
logins can never all see "one slot left": on PostgreSQL a ``pg_advisory_xact_lock`` on
a hash of the owner (works for Django users and the session server's string ids alike);
on SQLite the database already admits one writer at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from datetime import datetime

from django.db.models import QuerySet

from .. import policy_store
from .locks import lock_for_transaction
from .audit import EventType
from ..models import EndReason, Session
from ..core.policy import LimitAction, Policy
from ..values import Err, ErrorType, err
from .ending import end_sessions


@dataclass(frozen=True, slots=True)
class Owner:
    user_id: Any = None
    external_user_id: str | None = None

    @property
    def ref(self) -> str:
        return str(self.user_id) if self.user_id is not None else str(self.external_user_id)

    def sessions(self) -> QuerySet[Session]:
        if self.user_id is not None:
            return Session.objects.filter(user_id=self.user_id)
        return Session.objects.filter(external_user_id=self.external_user_id)


def lock_owner(owner: Owner) -> None:
    """Serialise session creation per owner until the current transaction ends."""
    kind = "u" if owner.user_id is not None else "x"
    lock_for_transaction(f"{kind}:{owner.ref}")


def _live_ids(queryset: QuerySet[Session], now: datetime, order: str) -> list[str]:
    """Ids of the sessions that are really alive, in ``order`` (oldest first).

    Expiry depends on each session's own policy (inactivity included), so it is decided
    here the way validation decides it; sessions found dead on the way are marked ended,
    so an idle session never blocks a login. A user has few sessions: this is one SELECT.
    """
    from .validation import effective_expiry

    rows = list(queryset.filter(ended_at__isnull=True, expires_at__gt=now)
                .only("id", "created_at", "last_activity_at", "expires_at", "tags").order_by(order, "id"))
    alive: list[str] = []
    dead: dict[str, list[str]] = {}
    for row in rows:
        expiry, why = effective_expiry(row, policy_store.resolve(row.tags))
        if expiry > now:
            alive.append(row.id)
        else:
            dead.setdefault(why, []).append(row.id)
    for why, ids in dead.items():
        end_sessions(Session.objects.filter(id__in=ids), reason=why, event_type=EventType.SESSION_EXPIRED)
    return alive


def _make_room(queryset: QuerySet[Session], limit: int, action: str, now: datetime, scope: str) -> Err | None:
    order = "last_activity_at" if action == LimitAction.DROP_LEAST_RECENTLY_ACTIVE else "created_at"
    live = _live_ids(queryset, now, order)
    count = len(live)
    if count < limit:
        return None
    if action == LimitAction.REJECT_NEW:
        return err(ErrorType.SESSION_LIMIT_EXCEEDED, f"Too many sessions ({scope}).",
                   current_count=count, max_allowed=limit, scope=scope)
    victims = live[: count - limit + 1]
    end_sessions(Session.objects.filter(id__in=victims), reason=EndReason.SESSION_LIMIT,
                 details={"scope": scope, "max_allowed": limit, "action": str(action)})
    return None


def enforce(owner: Owner, tags: tuple[str, ...], policy: Policy, per_tag: dict[str, int], now: datetime) -> Err | None:
    """Make room for one more session, or refuse it. Call after ``lock_owner``."""
    action = policy.on_session_limit_exceeded
    if policy.max_concurrent_sessions_per_user:
        refused = _make_room(owner.sessions(), policy.max_concurrent_sessions_per_user, action, now, "user")
        if refused is not None:
            return refused
    for tag, limit in per_tag.items():
        if tag in tags and limit:
            refused = _make_room(owner.sessions().filter(tag_rows__tag=tag), limit, action, now, f"tag {tag}")
            if refused is not None:
                return refused
    return None
