"""Re-authentication for sensitive actions (ASVS 3.7.1).

A session remembers how and when its user last proved who they are: the login itself
(its factors, e.g. ``password`` and ``device_proof``), then each re-authentication. A
sensitive view asks that the latest one be recent (``reauth_required``); a stale one is
answered with ``ReauthenticationRequired`` and the user proves it again: their password
(``reauthenticate_with_password``), a fresh proof from the session's device, or any
factor a project checks itself (``mark_reauthenticated``, e.g. after a TOTP code).

Wrong passwords are counted on the session: at ``REAUTH_MAX_FAILURES`` the session ends
(reason ``reauthentication_failed``), so a stolen cookie cannot become a password oracle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime

from ..conf import byo_settings
from ..core import clock
from ..models import EndReason, Session
from ..values import Authentication, Err, ErrorType, Ok, err
from .audit import Event, EventType, record
from .ending import end_session

PASSWORD = "password"
DEVICE_PROOF = "device_proof"
# A factor is a short name a project chooses ("password", "totp", "webauthn", "oauth:google").
_FACTOR_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,39}$")
_PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"


def is_factor_name(value: Any) -> bool:
    return isinstance(value, str) and _FACTOR_NAME.fullmatch(value) is not None


def factors_for_backend(backend: str | None) -> tuple[str, ...]:
    """What a login through ``auth.login()`` proved, when the adapter does not say: Django's
    own ``ModelBackend`` checks a password; any other backend is not guessed at (the
    login still counts as an authentication, with no named factor)."""
    return (PASSWORD,) if backend == _PASSWORD_BACKEND else ()


def at_login(factors: Iterable[str], now: datetime) -> dict[str, str]:
    """The ``authentication_factors`` column of a session that a login just started."""
    return {factor: now.isoformat() for factor in factors}


_EVENT_COLUMNS = ("id", "user_id", "external_user_id", "last_ip_address", "last_user_agent")


def _event(event_type: str, session: Session, *, ip_address: str | None, user_agent: str, **kwargs: Any) -> Event:
    """The request's client when known, else the session's last one."""
    if ip_address:
        kwargs["ip_address"] = ip_address
    if user_agent:
        kwargs["user_agent"] = user_agent
    return Event.for_session(event_type, session, **kwargs)


def _state(authenticated_at: datetime | None, factors: dict[str, Any]) -> Authentication:
    parsed = {
        name: when
        for name, raw in factors.items()
        if isinstance(raw, str) and (when := parse_datetime(raw)) is not None
    }
    return Authentication(authenticated_at=authenticated_at, factors=parsed)


def authentication_of(*, session_id: str) -> Authentication | None:
    """The live session's authentication state (one query), or None when it is not live."""
    row = (
        Session.objects.live(clock.now())
        .filter(pk=session_id)
        .values_list("authenticated_at", "authentication_factors")
        .first()
    )
    return None if row is None else _state(row[0], row[1] or {})


def require_recent(
    *, session_id: str, max_age_secs: int | None = None, factors: Iterable[str] | None = None
) -> Ok[Authentication] | Err:
    """``Ok`` when the session's user authenticated (by one of ``factors``, or any) at most
    ``max_age_secs`` ago (default ``REAUTH_MAX_AGE_SECS``); else ``ReauthenticationRequired``
    whose details say what would do (``max_age``, ``accepted_factors``, ``authenticated_at``)."""
    max_age = byo_settings.REAUTH_MAX_AGE_SECS if max_age_secs is None else max_age_secs
    accepted = frozenset(factors) if factors is not None else None
    state = authentication_of(session_id=session_id)
    if state is None:
        return err(ErrorType.SESSION_NOT_FOUND, "The session has ended.", reason="session_not_live")
    age = state.age_secs(clock.now(), factors=accepted)
    if age is not None and age <= max_age:
        return Ok(state)
    latest = (
        max(state.factors.values(), default=state.authenticated_at)
        if accepted is None
        else max((at for name, at in state.factors.items() if name in accepted), default=None)
    )
    return err(
        ErrorType.REAUTHENTICATION_REQUIRED,
        "Confirm it is you to continue.",
        reason="no_authentication" if age is None else "stale_authentication",
        max_age=max_age,
        accepted_factors=sorted(accepted) if accepted is not None else None,
        authenticated_at=latest.isoformat() if latest is not None else None,
    )


def mark_reauthenticated(
    *,
    session_id: str,
    factor: str,
    actor: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    user_id: Any = None,
) -> Ok[Authentication] | Err:
    """Record that the session's user just proved who they are by ``factor`` (the caller
    checked it; ``user_id``, when given, must own the session). Clears the count of wrong
    answers; audited ``session_reauthenticated``."""
    if not is_factor_name(factor):
        return err(
            ErrorType.INVALID_PARAMETERS,
            "A factor is a short lower-case name such as 'password'.",
            reason="invalid_factor",
        )
    now = clock.now()
    with transaction.atomic():
        live = Session.objects.live(now).select_for_update().filter(pk=session_id)
        if user_id is not None:
            live = live.filter(user_id=user_id)
        session = live.only(*_EVENT_COLUMNS, "authentication_factors").first()
        if session is None:
            return err(ErrorType.SESSION_NOT_FOUND, "The session has ended.", reason="session_not_live")
        factors = dict(session.authentication_factors or {})
        factors[factor] = now.isoformat()
        Session.objects.filter(pk=session_id).update(
            authenticated_at=now, authentication_factors=factors, reauthentication_failures=0
        )
        record(
            _event(
                EventType.SESSION_REAUTHENTICATED,
                session,
                ip_address=ip_address,
                user_agent=user_agent,
                actor=actor,
                details={"factor": factor},
            )
        )
    return Ok(_state(now, factors))


def reauthenticate_with_password(
    *, session_id: str, user: Any, password: Any, ip_address: str | None = None, user_agent: str = ""
) -> Ok[Authentication] | Err:
    """Check ``password`` against the session's user (Django's hashers); right: as
    ``mark_reauthenticated(factor="password")``; wrong: ``ReauthenticationFailed`` with the
    attempts left, and at the last one the session ends (``SessionInvalidated``)."""
    actor = f"user:{user.pk}"
    if isinstance(password, str) and password and user.is_active and user.check_password(password):
        return mark_reauthenticated(
            session_id=session_id,
            factor=PASSWORD,
            actor=actor,
            ip_address=ip_address,
            user_agent=user_agent,
            user_id=user.pk,
        )
    now = clock.now()
    with transaction.atomic():
        # Counted under the row's lock: parallel guesses cannot share one attempt.
        session = (
            Session.objects.live(now)
            .select_for_update()
            .filter(pk=session_id, user_id=user.pk)
            .only(*_EVENT_COLUMNS)
            .first()
        )
        if session is None:
            return err(ErrorType.SESSION_NOT_FOUND, "The session has ended.", reason="session_not_live")
        Session.objects.filter(pk=session_id).update(reauthentication_failures=F("reauthentication_failures") + 1)
        failures = Session.objects.filter(pk=session_id).values_list("reauthentication_failures", flat=True).get()
        left = max(byo_settings.REAUTH_MAX_FAILURES - failures, 0)
        record(
            _event(
                EventType.REAUTHENTICATION_FAILED,
                session,
                ip_address=ip_address,
                user_agent=user_agent,
                actor=actor,
                reason="wrong_password",
                details={"factor": PASSWORD, "attempts_left": left},
            )
        )
        if left == 0:
            end_session(session, reason=EndReason.REAUTHENTICATION_FAILED, actor=actor)
            return err(
                ErrorType.SESSION_INVALIDATED,
                "Too many wrong answers: the session has ended.",
                reason=EndReason.REAUTHENTICATION_FAILED,
            )
    return err(
        ErrorType.REAUTHENTICATION_FAILED, "That password is not right.", reason="wrong_password", attempts_left=left
    )
