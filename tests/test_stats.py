"""The overview numbers (stats.py): what the admin dashboard draws and byo_stats prints."""

from __future__ import annotations

import pytest

from byo_sessions import sessions
from byo_sessions.services import audit
from byo_sessions.services.audit import Event, EventType
from byo_sessions.stats import UnknownWindow, cached_overview, overview

pytestmark = pytest.mark.django_db


def series(o, key):
    return next(s for s in [*o.ended, *o.security] if s.key == key)


def test_counts_by_window_and_bucket(user, other_user, clock):
    old = sessions.create(user_id=user.pk, tags=["org:acme"]).data
    clock.advance(3 * 86400)  # three days later
    sessions.create(user_id=user.pk, tags=["org:acme", "role:admin"])
    sessions.create(user_id=other_user.pk, tags=["org:acme"])
    sessions.create(user_id=other_user.pk)  # bob's second session: a new session, not a new user
    sessions.invalidate_by_id(session_id=old.session_id, reason="admin")

    day = overview(window_key="24h")
    assert (day.active, day.expired_unmarked) == (3, 0)
    assert len(day.buckets) == 24 and day.bucket == "hour"
    assert (day.new_sessions.total, day.logins.total) == (3, 2)  # distinct users per hour
    assert day.new_sessions.points[-1] == 3  # all in the current hour, the last point
    assert [(s.key, s.total) for s in day.ended] == [("admin", 1)]
    assert [(r.key, r.count) for r in day.by_tag] == [("org:acme", 2), ("role:admin", 1)]
    assert day.logins.points[-1] == 2

    week = overview(window_key="7d")
    assert len(week.buckets) == 7 and week.bucket == "day"
    assert (week.new_sessions.total, week.logins.total) == (4, 3)  # alice counted on both days
    assert week.new_sessions.points[-1] == 3 and week.new_sessions.points[-4] == 1

    clock.advance(8 * 86400)
    later = overview(window_key="7d")
    assert later.new_sessions.total == 0 and later.ended == []
    assert overview(window_key="30d").new_sessions.total == 4


def test_security_events_and_failed_validations_ranked(user, other_user, clock):
    for ref, ip, times in ((str(user.pk), "203.0.113.9", 3), (str(other_user.pk), "198.51.100.1", 1)):
        for _ in range(times):
            audit.record(Event(EventType.VALIDATION_FAILED, user_ref=ref, ip_address=ip, reason="ip_not_allowed"))
    audit.record(Event(EventType.VALIDATION_FAILED, ip_address="198.51.100.1", reason="unknown_token"))
    audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref=str(user.pk)))
    audit.record(Event(EventType.POLICY_CHANGED, actor="admin:root"))  # not a security event here

    o = overview(window_key="24h")
    assert series(o, "token_reuse_detected").total == 1
    assert series(o, "validation_failed").total == 5
    assert series(o, "device_verification_failed").total == 0
    assert [(r.label, r.count) for r in o.failed_by_user] == [("alice", 3), ("bob", 1)]
    assert [(r.key, r.count) for r in o.failed_by_ip] == [("203.0.113.9", 3), ("198.51.100.1", 2)]


def test_as_json_is_plain_json(user):
    import json

    sessions.create(user_id=user.pk)
    data = json.loads(json.dumps(overview(window_key="24h").as_json()))
    assert data["active"] == 1 and data["new_sessions"]["points"][-1] == 1 and len(data["buckets"]) == 24


def test_unknown_window_is_a_typed_error():
    with pytest.raises(UnknownWindow, match="'1y'"):
        overview(window_key="1y")


def test_cached_overview_is_reused_until_it_expires(user, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = {"OVERVIEW_CACHE_SECS": 60}
    sessions.create(user_id=user.pk)
    assert cached_overview(window_key="24h").active == 1
    sessions.create(user_id=user.pk)
    with django_assert_num_queries(0):
        assert cached_overview(window_key="24h").active == 1  # the cached numbers
    # another window: the rollups and its audit reads only (grouped, logins, by user, by IP, by country)
    with django_assert_num_queries(6):
        assert cached_overview(window_key="7d").active == 1  # this moment's numbers: shared
    settings.BYO_SESSIONS = {"OVERVIEW_CACHE_SECS": 0}
    assert cached_overview(window_key="24h").active == 2


def test_overview_costs_a_fixed_number_of_queries(user, other_user, django_assert_num_queries):
    for owner in (user, other_user):
        for _ in range(3):
            sessions.create(user_id=owner.pk, tags=["org:a"])
    audit.record(Event(EventType.VALIDATION_FAILED, user_ref=str(user.pk), ip_address="203.0.113.9"))
    # unended, the daily rollups, grouped audit, logins, tags, by user, by IP, by country, usernames
    with django_assert_num_queries(9):
        overview(window_key="30d")


def test_new_sessions_by_country(user, admin_client):
    for ip in ("193.0.6.139", "193.0.6.139", "8.8.8.8", None):
        sessions.create(user_id=user.pk, ip_address=ip)
    o = overview(window_key="7d")
    assert [(r.key, r.label, r.count) for r in o.new_by_country] == [
        ("", "Unknown", 2),  # the admin's own login (a loopback address) and no address
        ("NL", "Netherlands", 2),
        ("US", "United States", 1),
    ]
    page = admin_client.get("/admin/byo_sessions/session/overview/?window=7d").content.decode()
    assert 'Netherlands <span class="byo-chip">NL</span></td><td class="count">2<' in page
