"""Expiry: when a session ends under its current policy, and whether it is alive now.

Every place that asks "is this session still good?" asks here (validation, limits,
device registration, stateless tokens, the session list, the admin), so an idle session
is dead everywhere at the same moment. SQL can only compare the stored absolute expiry
(``Session.objects.live(now)``); the policy part (inactivity, a lifetime shortened since
creation) depends on each session's tags and is decided on the rows, in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from .. import selectors
from ..core.policy import Policy
from ..models import EndReason, Session, SessionQuerySet
from ..values import Err, ErrorType, err
from . import policies

ACTIVE, EXPIRED, ENDED = "active", "expired", "ended"  # a session's status (the admin shows it)


def expiry_from(
    *, created_at: datetime, last_activity_at: datetime, expires_at: datetime, policy: Policy | None
) -> tuple[datetime, datetime, str]:
    """(absolute end, effective end, the reason the effective end gives) from plain values.

    The absolute end is the one stored (fixed at creation, moved by extensions), or sooner if
    the policy's cap got shorter since (its lifetime, or its maximum extended lifetime when
    it allows extension); the effective end is that or the inactivity deadline, whichever
    is first.
    ``policy`` None (a visitor's data-only session, which no policy governs): the stored end."""
    absolute = expires_at
    if policy is None:
        return absolute, absolute, EndReason.EXPIRED_ABSOLUTE
    cap = policy.lifetime_cap_secs
    if cap is not None:
        absolute = min(expires_at, created_at + timedelta(seconds=cap))
    if policy.inactivity_timeout_secs:
        idle = last_activity_at + timedelta(seconds=policy.inactivity_timeout_secs)
        if idle < absolute:
            return absolute, idle, EndReason.EXPIRED_INACTIVITY
    return absolute, absolute, EndReason.EXPIRED_ABSOLUTE


def effective_expiry(session: Session, policy: Policy) -> tuple[datetime, str]:
    """The moment the session ends under the *current* policy, and which rule ends it."""
    _absolute, end, why = expiry_from(
        created_at=session.created_at,
        last_activity_at=session.last_activity_at,
        expires_at=session.expires_at,
        policy=policy,
    )
    return end, why


def extension(session: Session, policy: Policy, now: datetime, extend_secs: int) -> datetime | None:
    """The stored absolute end that "extend to now + ``extend_secs``" asks for, or None when
    none is due: the policy forbids extension, or the end would move later by less than the
    touch interval (so extending costs a write at most once per interval, like the touch).
    Never past ``created_at + max_extended_lifetime_secs``, never sooner than it is."""
    if not policy.extends or policy.max_extended_lifetime_secs is None:
        return None
    cap = session.created_at + timedelta(seconds=policy.max_extended_lifetime_secs)
    wanted = min(now + timedelta(seconds=extend_secs), cap)
    if wanted <= session.expires_at:
        return None
    if wanted < cap and wanted - session.expires_at < timedelta(seconds=policies.touch_interval_secs(policy)):
        return None
    return wanted


def end_due(session: Session, policy: Policy, now: datetime) -> str | None:
    """Why a session that has not been ended must end now (an expiry, or its user was
    deactivated), or None while it may go on. Needs ``session.user`` when it has one."""
    expiry, why = effective_expiry(session, policy)
    if now >= expiry:
        return why
    if session.user_id is not None and (session.user is None or not session.user.is_active):
        return EndReason.USER_INACTIVE
    return None


def is_alive(session: Session, now: datetime) -> bool:
    """Not ended, not expired under its current policy, its user (if any) still active."""
    return session.ended_at is None and end_due(session, policies.resolve(session.tags), now) is None


def ended_error(session: Session) -> Err:
    """The answer for a session that has already ended: expired ones say so."""
    reason = session.end_reason
    if reason in (EndReason.EXPIRED_ABSOLUTE, EndReason.EXPIRED_INACTIVITY):
        return err(ErrorType.SESSION_EXPIRED, "The session has expired.", reason=reason)
    return err(ErrorType.SESSION_INVALIDATED, "The session has ended.", reason=reason)


def status(session: Session, now: datetime) -> str:
    """``ended``, ``expired`` (dead under its policy but not yet marked ended) or ``active``."""
    if session.ended_at is not None:
        return ENDED
    policy = None if session.is_anonymous else policies.resolve(session.tags)
    _absolute, end, _why = expiry_from(
        created_at=session.created_at,
        last_activity_at=session.last_activity_at,
        expires_at=session.expires_at,
        policy=policy,
    )
    return ACTIVE if now < end else EXPIRED


@dataclass(slots=True)
class Sorted:
    """Sessions that are live by their stored expiry, split by their current policy: ids
    still alive (in the selection's order) and ids already dead, by the reason they expired."""

    alive: list[str] = field(default_factory=list)
    expired: dict[str, list[str]] = field(default_factory=dict)

    @property
    def expired_ids(self) -> list[str]:
        return [sid for ids in self.expired.values() for sid in ids]


def sort_live(queryset: SessionQuerySet, now: datetime, *order: str) -> Sorted:
    """Split the sessions of ``queryset`` that are ``live(now)`` into alive and expired
    under their current policy: one SELECT of the few columns expiry needs, no instances."""
    result = Sorted()
    for row in selectors.expiry_rows(queryset, now, order):
        policy = None if row.user_id is None and row.external_user_id is None else policies.resolve(row.tags)
        _absolute, end, why = expiry_from(
            created_at=row.created_at, last_activity_at=row.last_activity_at, expires_at=row.expires_at, policy=policy
        )
        sid = row.id
        if end > now:
            result.alive.append(sid)
        else:
            result.expired.setdefault(why, []).append(sid)
    return result


def with_status(queryset: SessionQuerySet, wanted: str, now: datetime) -> SessionQuerySet:
    """The sessions of ``queryset`` whose ``status`` is ``wanted`` (the admin's filter)."""
    if wanted == ENDED:
        return queryset.filter(ended_at__isnull=False)
    late = sort_live(queryset, now).expired_ids
    if wanted == ACTIVE:
        return queryset.live(now).exclude(pk__in=late)
    if wanted == EXPIRED:
        return queryset.filter(ended_at__isnull=True).filter(Q(expires_at__lte=now) | Q(pk__in=late))
    return queryset
