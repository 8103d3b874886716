"""Concurrent session limits (services/limits.py): drop or refuse beyond the limit, per
user and per tag, exactly under parallel logins; idle sessions do not count; making room
is set-based."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from byo_sessions import ErrorType, is_err, is_ok, sessions
from byo_sessions.models import AuditEvent, Session, TagPolicy
from tests.concurrency import run_in_parallel
from tests.services.test_policies import create, validate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "action,expected_survivor",
    [
        ("drop_oldest", [1, 2]),
        ("drop_least_recently_active", [0, 2]),
    ],
)
def test_limit_drops_a_session(user, clock, action, expected_survivor):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded=action)
    first = create(user, ["org:acme"]).data.session_token
    clock.advance(120)
    second = create(user, ["org:acme"]).data.session_token
    clock.advance(120)
    assert is_ok(validate(first))  # first is now the most recently active
    third = create(user, ["org:acme"]).data.session_token
    tokens = [first, second, third]
    alive = [i for i, t in enumerate(tokens) if is_ok(validate(t))]
    assert alive == expected_survivor
    assert AuditEvent.objects.filter(event_type="session_invalidated", reason="session_limit").count() == 1


def test_limit_reject_new(user):
    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=1, on_session_limit_exceeded="reject_new"
    )
    assert is_ok(create(user, ["org:acme"]))
    refused = create(user, ["org:acme"])
    assert refused.error.type == ErrorType.SESSION_LIMIT_EXCEEDED
    assert refused.error.details["current_count"] == 1 and refused.error.details["max_allowed"] == 1
    assert Session.objects.count() == 1


def test_limit_per_tag(user):
    TagPolicy.objects.create(
        selector="device:*", max_concurrent_sessions_per_user_per_tag=1, on_session_limit_exceeded="reject_new"
    )
    assert is_ok(create(user, ["device:kiosk"]))
    assert is_ok(create(user, ["device:laptop"]))
    assert is_ok(create(user))
    assert create(user, ["device:kiosk"]).error.type == ErrorType.SESSION_LIMIT_EXCEEDED


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["reject_new", "drop_oldest"])
def test_limit_holds_exactly_under_parallel_logins(user, action):
    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=3, on_session_limit_exceeded=action)
    results = run_in_parallel(12, lambda: create(user, ["org:acme"]))
    assert not [r for r in results if isinstance(r, Exception)], results
    live = Session.objects.filter(user=user, ended_at__isnull=True).count()
    assert live == 3
    if action == "reject_new":
        assert sum(is_ok(r) for r in results) == 3
        assert all(r.error.type == ErrorType.SESSION_LIMIT_EXCEEDED for r in results if is_err(r))
    else:
        assert all(is_ok(r) for r in results)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_external_user_limit_holds_under_parallel_creates(db):
    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded="reject_new"
    )
    results = run_in_parallel(10, lambda: sessions.create(external_user_id="ext-1", tags=["org:x"]))
    assert sum(is_ok(r) for r in results) == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["reject_new", "drop_least_recently_active"])
def test_per_tag_limit_holds_exactly_under_parallel_logins(user, action):
    TagPolicy.objects.create(
        selector="device:*", max_concurrent_sessions_per_user_per_tag=2, on_session_limit_exceeded=action
    )
    assert is_ok(create(user, ["device:laptop"]))  # another tag value: its own count
    results = run_in_parallel(12, lambda: create(user, ["device:kiosk"]))
    assert not [r for r in results if isinstance(r, Exception)], results
    live = Session.objects.filter(user=user, ended_at__isnull=True)
    assert sorted(tag for s in live for tag in s.tags) == ["device:kiosk", "device:kiosk", "device:laptop"]
    if action == "reject_new":
        assert sum(is_ok(r) for r in results) == 2
        assert all(
            r.error.type == ErrorType.SESSION_LIMIT_EXCEEDED and r.error.details["scope"] == "tag device:kiosk"
            for r in results
            if is_err(r)
        )
    else:
        assert all(is_ok(r) for r in results)


def test_an_idle_session_does_not_count_against_the_limit(user, clock):
    TagPolicy.objects.create(
        selector="org:*",
        max_concurrent_sessions_per_user=1,
        inactivity_timeout_secs=1800,
        on_session_limit_exceeded="reject_new",
    )
    idle = create(user, ["org:acme"]).data
    clock.advance(1801)
    assert is_ok(create(user, ["org:acme"]))
    assert Session.objects.get(pk=idle.session_id).end_reason == "expired_inactivity"


def _statements(ctx: CaptureQueriesContext, verb: str, table: str) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(verb) and table in q["sql"]]


def test_making_room_for_one_login_ends_every_victim_in_one_update(user, clock):
    """A limit lowered below what a user holds: the next login ends all the extra sessions
    at once, one UPDATE and one audit INSERT, not one round trip per session."""
    tokens = []
    for _ in range(5):
        tokens.append(create(user, ["org:acme"]).data.session_token)
        clock.advance(10)
    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded="drop_oldest"
    )
    with CaptureQueriesContext(connection) as ctx:
        newest = create(user, ["org:acme"]).data.session_token
    # On PostgreSQL the UPDATE and the audit INSERT are one statement (services/ending.py).
    ending = [q["sql"] for q in ctx.captured_queries if 'UPDATE "byo_sessions_session"' in q["sql"]]
    assert len([sql for sql in ending if "end_reason" in sql]) == 1, ending
    ended = AuditEvent.objects.filter(event_type="session_invalidated", reason="session_limit")
    assert ended.count() == 4
    assert len(_statements(ctx, "INSERT", "byo_sessions_auditevent")) <= 2  # the 4 endings + session_created
    assert [is_ok(validate(t)) for t in tokens + [newest]] == [False, False, False, False, True, True]
    assert ended.first().details == {"scope": "user", "max_allowed": 2, "action": "drop_oldest"}


def test_refusing_a_login_ends_nothing_and_writes_no_session(user):
    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded="reject_new"
    )
    kept = [create(user, ["org:acme"]).data.session_token for _ in range(2)]
    refused = create(user, ["org:acme"])
    assert is_err(refused) and refused.error.details["scope"] == "user"
    assert all(is_ok(validate(t)) for t in kept)
    assert Session.objects.count() == 2
    assert not AuditEvent.objects.filter(event_type="session_invalidated").exists()
