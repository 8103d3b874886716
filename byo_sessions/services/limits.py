"""Concurrent session limits, enforced inside the transaction that creates a session.

Creations for one user are serialised with a transaction-scoped lock (``Owner.lock``)
so that N parallel logins can never all see "one slot left": on PostgreSQL a
``pg_advisory_xact_lock`` on a hash of the owner (works for Django users and the session
server's string ids alike); on SQLite the database already admits one writer at a time.
"""

from __future__ import annotations

from datetime import datetime

from ..core.policy import LimitAction, Policy
from ..models import EndReason, Session, SessionQuerySet
from ..values import Err, ErrorType, err
from . import expiry
from .audit import EventType
from .ending import end_sessions
from .owners import Owner


def _live_ids(queryset: SessionQuerySet, now: datetime, order: str) -> list[str]:
    """Ids of the sessions that are really alive, in ``order`` (oldest first).

    Expiry depends on each session's own policy (inactivity included), so ``expiry``
    decides it the way validation does; sessions found dead on the way are marked ended,
    so an idle session never blocks a login. A user has few sessions: this is one SELECT.
    """
    found = expiry.sort_live(queryset, now, order, "id")
    for why, ids in found.expired.items():
        end_sessions(Session.objects.filter(id__in=ids), reason=why, event_type=EventType.SESSION_EXPIRED)
    return found.alive


def _make_room(queryset: SessionQuerySet, limit: int, action: str, now: datetime, scope: str) -> Err | None:
    order = "last_activity_at" if action == LimitAction.DROP_LEAST_RECENTLY_ACTIVE else "created_at"
    live = _live_ids(queryset, now, order)
    count = len(live)
    if count < limit:
        return None
    if action == LimitAction.REJECT_NEW:
        return err(
            ErrorType.SESSION_LIMIT_EXCEEDED,
            f"Too many sessions ({scope}).",
            current_count=count,
            max_allowed=limit,
            scope=scope,
        )
    victims = live[: count - limit + 1]
    end_sessions(
        Session.objects.filter(id__in=victims),
        reason=EndReason.SESSION_LIMIT,
        details={"scope": scope, "max_allowed": limit, "action": str(action)},
    )
    return None


def enforce(owner: Owner, tags: tuple[str, ...], policy: Policy, per_tag: dict[str, int], now: datetime) -> Err | None:
    """Make room for one more session, or refuse it. Call after ``owner.lock()``."""
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
