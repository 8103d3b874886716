"""Daily rollups (services/rollups.py): the overview reads the same numbers from them as
from the audit rows, reruns change nothing, and byo_prune rolls up before it deletes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from byo_sessions import sessions
from byo_sessions.core import clock as byo_clock
from byo_sessions.models import AuditEvent, DailyCount
from byo_sessions.services import audit, pruning, rollups
from byo_sessions.services.audit import Event, EventType
from byo_sessions.stats import overview

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
TODAY = date(2026, 11, 20)
YESTERDAY = TODAY - timedelta(days=1)


def history(users, days: int = 12) -> None:
    """Sessions created and ended, failed validations and security events on each of the
    last ``days`` days (a different mix each day), ending at NOW."""
    byo_clock.freeze(NOW - timedelta(days=days))
    ips = ["203.0.113.9", "198.51.100.1", "2001:db8::1"]
    for day in range(days):
        midnight = datetime.combine(NOW.date() - timedelta(days=days - day), datetime.min.time(), UTC)
        byo_clock.freeze(midnight)
        for k in range(day % 4 + 1):
            byo_clock.advance(3600 * (k + 1) + 17)
            owner = users[(day + k) % len(users)]
            ip = ("193.0.6.139", "8.8.8.8", None)[(day + k) % 3]  # NL, US, unknown
            made = sessions.create(user_id=owner.pk, tags=["org:acme"], ip_address=ip).data
            if (day + k) % 3 == 0:
                sessions.invalidate_by_id(session_id=made.session_id, reason=["logout", "admin"][k % 2])
            audit.record(
                Event(
                    EventType.VALIDATION_FAILED,
                    user_ref=str(owner.pk) if k % 2 else "",
                    ip_address=ips[(day + k) % 3],
                    reason="unknown_token",
                )
            )
        if day % 5 == 0:
            audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref=str(users[0].pk)))
        byo_clock.freeze(midnight + timedelta(days=1, seconds=-1))  # one just before midnight
        audit.record(Event(EventType.NEW_DEVICE_DETECTED, user_ref=str(users[-1].pk)))
    byo_clock.freeze(NOW - timedelta(hours=2))
    sessions.create(user_id=users[0].pk)  # today, counted live
    audit.record(Event(EventType.VALIDATION_FAILED, user_ref=str(users[1].pk), ip_address="203.0.113.9"))
    byo_clock.freeze(NOW)


def numbers(o) -> dict:
    data = o.as_json()
    data.pop("days_from_rollups")
    return data


@pytest.fixture
def users(user, other_user, django_user_model):
    return [user, other_user, django_user_model.objects.create_user("carol", password="pw")]


@pytest.mark.parametrize("window", ["7d", "30d"])
def test_rollups_give_the_same_numbers_as_the_audit_rows(users, window):
    history(users)
    live = overview(window_key=window, use_rollups=False)
    assert live.new_sessions.total > 10 and live.ended and live.failed_by_ip and live.failed_by_user
    assert {r.key for r in live.new_by_country} == {"NL", "US", ""}
    result = rollups.roll_up()
    assert result.rolled[0] == TODAY - timedelta(days=31) and result.rolled[-1] == YESTERDAY
    read = overview(window_key=window)
    assert read.days_from_rollups == read.closed_days == {"7d": 6, "30d": 29}[window]
    assert numbers(read) == numbers(live)
    assert read.new_sessions.points[-1] == 1  # today's session, from the audit rows


def test_rerun_is_idempotent_and_recounts_late_rows(users):
    history(users, days=4)
    rollups.roll_up()

    def stored():
        return sorted(DailyCount.objects.values_list("day", "kind", "key", "reason", "count"))

    first = stored()
    assert rollups.roll_up().rolled == [YESTERDAY - timedelta(days=1), YESTERDAY]  # the rest are kept
    assert stored() == first
    byo_clock.freeze(NOW - timedelta(days=1))  # a row written late for yesterday
    audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref="7"))
    byo_clock.freeze(NOW)
    assert (
        overview(window_key="7d").security[0].total
        == overview(window_key="7d", use_rollups=False).security[0].total - 1
    )
    rollups.roll_up()
    assert numbers(overview(window_key="7d")) == numbers(overview(window_key="7d", use_rollups=False))
    assert len(stored()) == len(first) + 1  # one more (type, reason) row; nothing doubled


def test_without_rollups_or_with_some_days_only_the_rest_is_counted_live(users):
    history(users)
    live = overview(window_key="30d", use_rollups=False)
    none = overview(window_key="30d")
    assert (none.days_from_rollups, none.days_computed_live) == (0, 29)
    assert numbers(none) == numbers(live)
    rollups.roll_up(only=[YESTERDAY - timedelta(days=i) for i in (2, 3, 7, 8, 9)])
    some = overview(window_key="30d")
    assert (some.days_from_rollups, some.days_computed_live) == (5, 24)
    assert numbers(some) == numbers(live)


def test_prune_rolls_up_the_days_it_deletes_first(users):
    history(users, days=10)
    live = overview(window_key="30d", use_rollups=False)
    done = pruning.prune(retention=pruning.Retention(session_days=365, retired_token_days=365, audit_days=3), now=NOW)
    assert done["audit_events"] > 0
    cutoff = NOW - timedelta(days=3)
    assert not AuditEvent.objects.filter(created_at__lt=cutoff).exists()
    assert AuditEvent.objects.filter(created_at__date=cutoff.date()).exists()  # that day is only partly pruned
    assert sorted(DailyCount.objects.filter(kind="day").values_list("day", flat=True)) == [
        TODAY - timedelta(days=d) for d in range(10, 2, -1)
    ]
    assert numbers(overview(window_key="30d")) == numbers(live)
    assert overview(window_key="30d", use_rollups=False).new_sessions.total < live.new_sessions.total

    # Recounting never overwrites a day whose rows were pruned (the cutoff's day included).
    result = rollups.roll_up(recompute=31)
    assert result.kept == [TODAY - timedelta(days=d) for d in range(10, 2, -1)]
    assert numbers(overview(window_key="30d")) == numbers(live)
    assert rollups.roll_up(only=[cutoff.date()]).kept == [cutoff.date()]


def test_prune_without_audit_retention_rolls_up_nothing(users):
    history(users, days=3)
    pruning.prune(retention=pruning.Retention(session_days=365, retired_token_days=365, audit_days=None), now=NOW)
    assert not DailyCount.objects.exists()


def test_an_empty_day_is_rolled_up_as_empty(users):
    byo_clock.freeze(NOW)
    assert rollups.roll_up(days=3).rolled == [YESTERDAY - timedelta(days=2), YESTERDAY - timedelta(days=1), YESTERDAY]
    assert list(DailyCount.objects.values_list("kind", "count").order_by().distinct()) == [("day", 0)]
    assert overview(window_key="7d").days_from_rollups == 3


def test_overview_queries_do_not_grow_with_rolled_up_days(users, django_assert_num_queries):
    history(users, days=5)
    rollups.roll_up()
    # unended, rollup rows, grouped audit (today), logins (today), failed by user and by IP
    # (today), new by country (today), tags, usernames
    with django_assert_num_queries(9):
        overview(window_key="30d")
    with django_assert_num_queries(8):  # no rollup read for hours
        overview(window_key="24h")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_rollups_of_one_day_leave_one_rollup(users):
    from tests.concurrency import run_in_parallel

    history(users, days=2)
    byo_clock.freeze(NOW)
    results = run_in_parallel(8, lambda: rollups.roll_up_day(YESTERDAY, now=NOW))
    assert results == [True] * 8, results
    once = sorted(DailyCount.objects.values_list("day", "kind", "key", "reason", "count"))
    assert len(once) == len(set(once)) and DailyCount.objects.filter(kind="day").count() == 1
    assert numbers(overview(window_key="7d")) == numbers(overview(window_key="7d", use_rollups=False))
