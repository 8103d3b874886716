"""What Django's session framework asks of the service layer (``backends/db.py``).

The session engine stores ``request.session`` in our ``Session`` row: visitors who are
not logged in get an ownerless row the first time Django code writes data (as Django's
database backend does), logged-in users' data sits beside their session's token hash.
These functions are the engine's reads and writes; the rules (validation, rotation,
ending, limits) stay where they are and are called from here. ``migrate_django_session``
moves a ``django.contrib.sessions`` session into one of ours (``django_sessions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Least
from django.views.decorators.debug import sensitive_variables

from .. import selectors
from ..conf import byo_settings, secret_keys
from ..core import clock
from ..core.network import InvalidIpAddress, normalise_ip
from ..core.tokens import derived_token, hash_token, is_well_formed, new_token
from ..core.user_agent import clean_user_agent
from ..models import EndReason, Session
from ..values import Err, Ok
from . import audit, pruning, rotation, sessions
from .audit import Event, EventType
from .ending import end_sessions
from .owners import Owner


@dataclass(frozen=True, slots=True)
class AnonymousSession:
    session_id: str
    session_token: str
    expires_at: datetime


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def create_anonymous(
    *,
    session_data: str,
    ip_address: str | None = None,
    user_agent: str | None = None,
    expires_at: datetime | None = None,
) -> AnonymousSession:
    """A visitor's data-only session: no owner, no tags, no audit row (it guards a cart or
    a pending login, not an account), ``ANONYMOUS_LIFETIME_SECS`` at most."""
    now = clock.now()
    try:
        ip = normalise_ip(ip_address)
    except InvalidIpAddress:
        ip = None
    ua = clean_user_agent(user_agent) or ""
    end = now + timedelta(seconds=byo_settings.ANONYMOUS_LIFETIME_SECS)
    token = new_token()
    session = Session.objects.create(
        token_hash=hash_token(token),
        token_issued_at=now,
        created_at=now,
        last_activity_at=now,
        expires_at=min(end, expires_at) if expires_at is not None else end,
        ip_address=ip,
        last_ip_address=ip,
        user_agent=ua,
        last_user_agent=ua,
        data=session_data,
    )
    return AnonymousSession(session_id=session.id, session_token=token, expires_at=session.expires_at)


def save_data(*, session_id: str, session_data: str, expires_at: datetime | None = None) -> bool:
    """Write ``request.session``'s data; False when the session ended meanwhile (a logout in
    another tab), so the engine can refuse to resurrect it. ``expires_at`` (from
    ``set_expiry``) can only bring the end closer."""
    fields: dict[str, Any] = {"data": session_data}
    if expires_at is not None:
        fields["expires_at"] = Least(F("expires_at"), expires_at)
    return bool(Session.objects.filter(pk=session_id, ended_at__isnull=True).update(**fields))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def rekey(*, session_token: str) -> str | None:
    """``cycle_key()`` of a logged-in session (``update_session_auth_hash`` after a password
    change): the same session under its next token, by the rotation rules (the previous
    token leads to the same successor within the grace window). None if it cannot
    (ended, or another request rotated it first)."""
    if not is_well_formed(session_token):
        return None
    session = selectors.session_by_token_hash(hash_token(session_token))
    if session is None or session.ended_at is not None:
        return None
    outcome = rotation.rotate(session, session_token, clock.now(), {})
    return None if outcome in (rotation.LOST_RACE, rotation.FAILED) else outcome


def _by_token(session_token: str) -> QuerySet[Session]:
    token_hash = hash_token(session_token)
    return Session.objects.filter(Q(token_hash=token_hash) | Q(previous_token_hash=token_hash))


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def end_by_token(*, session_token: Any, reason: str, actor: str = "") -> int:
    """``delete()``/``flush()``: a visitor's row goes; a user's session ends (audited, kept
    for the timeline and for theft detection)."""
    if not is_well_formed(session_token):
        return 0
    deleted, _ = _by_token(session_token).filter(user__isnull=True, external_user_id__isnull=True).delete()
    return deleted + end_sessions(_by_token(session_token), reason=reason, actor=actor)


@sensitive_variables()  # raw tokens in locals: keep them out of error reports
def is_live(*, session_token: Any) -> bool:
    """``exists()``: a current token whose session has not ended or passed its absolute end."""
    if not is_well_formed(session_token):
        return False
    return Session.objects.live(clock.now()).filter(token_hash=hash_token(session_token)).exists()


MIGRATION_ACTOR = "migration"
_MIGRATION_SALT = "byo_sessions.engine.migrate_django_session"


@sensitive_variables()  # raw tokens and Django session keys in locals: keep them out of error reports
def migrate_django_session(
    *,
    django_session_key: str,
    user_id: Any | None,
    session_data: str,
    ip_address: str | None = None,
    user_agent: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> Ok[str] | Err:
    """A ``django.contrib.sessions`` session (already verified by the caller) as one of
    ours, carrying ``session_data``; returns the new session's token.

    A user's session is created as any login is (policy, limits, ``session_created``) and
    audited as ``session_migrated``; a visitor's becomes a data-only session. The token is
    derived from the Django session key, so requests that present the old cookie at the
    same time (tabs restored together, an app's first parallel calls) all end in this one
    session: the unique token hash lets one create it, the others get the same token.
    An ``Err`` is a policy refusal (IP allowlist, ``reject_new`` limit): nothing was created.
    """
    token = derived_token(django_session_key, salt=_MIGRATION_SALT, secret=secret_keys()[0])
    try:
        with transaction.atomic():
            if user_id is None:
                session_id = create_anonymous(
                    session_data=session_data, ip_address=ip_address, user_agent=user_agent, expires_at=expires_at
                ).session_id
            else:
                created = sessions.create(
                    user_id=user_id,
                    ip_address=ip_address,
                    user_agent=user_agent,
                    tags=tags,
                    metadata=metadata,
                    session_data=session_data,
                    expires_at=expires_at,
                    actor=MIGRATION_ACTOR,
                    authentication=None,
                )  # moved, not proven
                if isinstance(created, Err):
                    return created
                session_id = created.data.session_id
            session = Session.objects.get(pk=session_id)
            session.token_hash = hash_token(token)
            session.save(update_fields=["token_hash"])
            if user_id is not None:
                audit.record(
                    Event.for_session(
                        EventType.SESSION_MIGRATED,
                        session,
                        actor=MIGRATION_ACTOR,
                        details={"from": "django.contrib.sessions"},
                    )
                )
    except IntegrityError:  # a parallel request presenting the same key migrated it first
        pass
    return Ok(token)


@sensitive_variables()  # raw tokens and Django session keys in locals: keep them out of error reports
def recently_migrated(*, django_session_key: str) -> str | None:
    """The token of the session a parallel request just migrated this Django session into
    (the old row is gone): accepted for ``ROTATION_GRACE_SECS`` after the migration, as a
    rotated token is, so a request that raced the migration does not clear the new cookie.
    Later the old key is worth nothing, as any replaced token."""
    token = derived_token(django_session_key, salt=_MIGRATION_SALT, secret=secret_keys()[0])
    since = clock.now() - timedelta(seconds=byo_settings.ROTATION_GRACE_SECS)
    live = _by_token(token).filter(ended_at__isnull=True, created_at__gte=since).exists()
    return token if live else None


def end_after_password_change(*, user_id: Any, keep_session_id: str | None, actor: str = "") -> int:
    """ASVS 3.3.3: a new password ends the user's other sessions at once (the one the change
    was made from, if any, continues)."""
    others = Owner(user_id=user_id).sessions()
    if keep_session_id is not None:
        others = others.exclude(pk=keep_session_id)
    return end_sessions(others, reason=EndReason.PASSWORD_CHANGED, actor=actor)


@dataclass(frozen=True, slots=True)
class Pruned:
    sessions: int
    proofs: int
    signing_keys: int
    audit_events: int | None


def prune(*, keep_days: int | None = None, audit_days: int | None = None, now: datetime | None = None) -> Pruned:
    """Delete what is dead (``services/pruning.py``, in batches): visitors' expired rows at
    once, users' ended or expired sessions after ``keep_days`` (default: the
    ``PRUNE_SESSIONS_AFTER_DAYS`` setting), retired tokens past their retention, spent proof
    ids, expired signing keys, and audit rows older than ``audit_days`` when given.
    ``clearsessions`` lands here."""
    defaults = pruning.Retention.from_settings()
    retention = pruning.Retention(
        session_days=defaults.session_days if keep_days is None else keep_days,
        retired_token_days=defaults.retired_token_days,
        audit_days=audit_days,
    )
    done = pruning.prune(retention=retention, now=now)
    return Pruned(
        sessions=done["sessions"],
        proofs=done["proofs"],
        signing_keys=done["signing_keys"],
        audit_events=done.get("audit_events"),
    )
