"""Expiry (services/expiry.py): when a session ends under its current policy, whether it
is alive, and the live/expired split the limits and the admin use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byo_sessions import ErrorType, sessions
from byo_sessions.core.policy import PolicySet
from byo_sessions.models import EndReason, Session, TagPolicy
from byo_sessions.services import engine, expiry, policies

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def policy(**defaults):
    return PolicySet(defaults=defaults).resolve(())


def test_the_stored_end_when_the_policy_sets_nothing_sooner():
    ends = expiry.expiry_from(
        created_at=T0,
        last_activity_at=T0,
        expires_at=T0 + 10 * HOUR,
        policy=policy(absolute_lifetime_secs=None, inactivity_timeout_secs=None),
    )
    assert ends == (T0 + 10 * HOUR, T0 + 10 * HOUR, EndReason.EXPIRED_ABSOLUTE)


def test_a_lifetime_shortened_since_creation_brings_the_absolute_end_closer():
    absolute, end, why = expiry.expiry_from(
        created_at=T0,
        last_activity_at=T0,
        expires_at=T0 + 10 * HOUR,
        policy=policy(absolute_lifetime_secs=3600, inactivity_timeout_secs=None),
    )
    assert absolute == end == T0 + HOUR and why == EndReason.EXPIRED_ABSOLUTE


def test_inactivity_ends_a_session_before_its_absolute_end():
    absolute, end, why = expiry.expiry_from(
        created_at=T0, last_activity_at=T0 + HOUR, expires_at=T0 + 10 * HOUR, policy=policy(inactivity_timeout_secs=600)
    )
    assert absolute == T0 + 10 * HOUR
    assert end == T0 + HOUR + timedelta(seconds=600) and why == EndReason.EXPIRED_INACTIVITY


def test_an_inactivity_deadline_past_the_absolute_end_does_not_apply():
    _absolute, end, why = expiry.expiry_from(
        created_at=T0,
        last_activity_at=T0 + 9 * HOUR,
        expires_at=T0 + 10 * HOUR,
        policy=policy(inactivity_timeout_secs=7200),
    )
    assert end == T0 + 10 * HOUR and why == EndReason.EXPIRED_ABSOLUTE


def test_no_policy_means_the_stored_end():
    """A visitor's data-only session: no policy governs it."""
    assert expiry.expiry_from(created_at=T0, last_activity_at=T0, expires_at=T0 + HOUR, policy=None) == (
        T0 + HOUR,
        T0 + HOUR,
        EndReason.EXPIRED_ABSOLUTE,
    )


def _session(user, tags=None):
    created = sessions.create(user_id=user.pk, tags=tags).data
    return Session.objects.select_related("user").get(pk=created.session_id)


def test_end_due_names_the_expiry_first_then_an_inactive_user(user, clock):
    TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=60)
    session = _session(user, ["org:kiosk"])
    live_policy = policies.resolve(session.tags)
    assert expiry.end_due(session, live_policy, clock.now()) is None
    user.is_active = False
    user.save()
    session.user.refresh_from_db()
    assert expiry.end_due(session, live_policy, clock.now()) == EndReason.USER_INACTIVE
    clock.advance(61)
    assert expiry.end_due(session, live_policy, clock.now()) == EndReason.EXPIRED_INACTIVITY


def test_is_alive_and_status(user, clock):
    TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=60)
    session = _session(user, ["org:kiosk"])
    assert expiry.is_alive(session, clock.now()) and expiry.status(session, clock.now()) == expiry.ACTIVE
    clock.advance(61)
    assert not expiry.is_alive(session, clock.now())
    assert expiry.status(session, clock.now()) == expiry.EXPIRED
    sessions.invalidate_by_id(session_id=session.pk)
    session.refresh_from_db()
    assert expiry.status(session, clock.now()) == expiry.ENDED


def test_a_visitors_session_follows_its_stored_end_whatever_the_default_policy(settings, clock):
    settings.BYO_SESSIONS = {"INACTIVITY_TIMEOUT_SECS": 60, "ANONYMOUS_LIFETIME_SECS": 3600}
    visitor = Session.objects.get(pk=engine.create_anonymous(session_data="{}").session_id)
    clock.advance(120)
    assert expiry.status(visitor, clock.now()) == expiry.ACTIVE
    assert expiry.sort_live(Session.objects.all(), clock.now()).alive == [visitor.pk]
    clock.advance(3600)
    assert expiry.status(visitor, clock.now()) == expiry.EXPIRED


def test_ended_error_says_expired_for_expiries_and_ended_otherwise(user):
    session = _session(user)
    session.end_reason = EndReason.EXPIRED_INACTIVITY
    assert expiry.ended_error(session).error.type == ErrorType.SESSION_EXPIRED
    session.end_reason = EndReason.LOGOUT
    refused = expiry.ended_error(session)
    assert refused.error.type == ErrorType.SESSION_INVALIDATED and refused.error.details["reason"] == "logout"


def test_sort_live_splits_by_policy_in_the_given_order(user, clock):
    TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=60)
    first = _session(user)
    idle = _session(user, ["org:kiosk"])
    clock.advance(30)
    later = _session(user)
    ended = _session(user)
    sessions.invalidate_by_id(session_id=ended.pk)
    clock.advance(40)  # the kiosk session is now 70 s idle
    found = expiry.sort_live(Session.objects.filter(user=user), clock.now(), "created_at", "id")
    assert found.alive == [first.pk, later.pk]
    assert found.expired == {EndReason.EXPIRED_INACTIVITY: [idle.pk]} and found.expired_ids == [idle.pk]


def test_with_status_applies_each_sessions_policy(user, clock):
    TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=60)
    alive = _session(user)
    idle = _session(user, ["org:kiosk"])
    ended = _session(user)
    sessions.invalidate_by_id(session_id=ended.pk, reason="admin")
    clock.advance(61)
    now = clock.now()
    everyone = Session.objects.all()
    assert list(expiry.with_status(everyone, expiry.ACTIVE, now)) == [alive]
    assert list(expiry.with_status(everyone, expiry.EXPIRED, now)) == [idle]
    assert list(expiry.with_status(everyone, expiry.ENDED, now)) == [ended]
