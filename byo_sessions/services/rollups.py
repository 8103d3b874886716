"""Daily rollups of the audit trail: what the overview's 7 and 30 days read for closed days.

A rollup of a UTC day is ``stats.raw_tally`` of that day's audit rows, stored as
``DailyCount`` rows (events by type and reason, users who logged in, each day's top
failed validations by user and by IP address, new sessions by country) plus a ``day``
marker row. Rolling up a day
replaces all of its rows in one transaction, so running it again is always safe; a daily
cron (``manage.py byo_rollup``) keeps them, and ``byo_prune`` rolls up every day it is
about to delete audit rows of first, so pruning never takes history out of the charts.

Audit rows are only ever deleted by a prune, so a recount that finds fewer events than a
day's stored rollup means the day was pruned since: the stored rollup is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q

from .. import stats
from ..core import clock
from ..models import AuditEvent, DailyCount
from .locks import lock_for_transaction

Kind = DailyCount.Kind
DEFAULT_DAYS = 31  # the 30-day window's closed days, and one more
DEFAULT_RECOMPUTE = 2  # closed days recounted on every run: rows written late (a request in flight at midnight)


@dataclass(frozen=True, slots=True)
class Result:
    rolled: list[date] = field(default_factory=list)  # days written now
    kept: list[date] = field(default_factory=list)  # days asked for whose audit rows were pruned: left as they were


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def count_day(day: date, *, computed_at: datetime) -> list[DailyCount]:
    """The rollup rows of one day, from its audit rows (five aggregate queries)."""
    start = day_start(day)
    tally = stats.raw_tally(
        where=Q(created_at__gte=start, created_at__lt=start + timedelta(days=1)), bucket="day", buckets=[start]
    )

    def row(kind: str, count: int, key: str = "", reason: str = "") -> DailyCount:
        return DailyCount(day=day, kind=kind, key=key, reason=reason, count=count, computed_at=computed_at)

    events = [row(Kind.EVENT, points[0], kind, reason) for (kind, reason), points in tally.events.items() if points[0]]
    rows = [row(Kind.DAY, sum(r.count for r in events)), *events]
    if tally.logins[0]:
        rows.append(row(Kind.LOGINS, tally.logins[0]))
    rows += [row(Kind.FAILED_USER, n, ref) for ref, n in tally.failed_by_user.items()]
    rows += [row(Kind.FAILED_IP, n, ip) for ip, n in tally.failed_by_ip.items()]
    rows += [row(Kind.NEW_BY_COUNTRY, n, code) for code, n in tally.new_by_country.items()]
    return rows


def roll_up_day(day: date, *, now: datetime | None = None) -> bool:
    """Replace ``day``'s rollup with a fresh count (idempotent). A recount that finds fewer
    events than the stored rollup keeps it (audit rows are only ever deleted by a prune, so
    the day's rows were pruned) and returns False. Runs for one day take turns (a named lock)."""
    now = now or clock.now()
    rows = count_day(day, computed_at=now)
    with transaction.atomic():
        lock_for_transaction(f"rollup:{day.isoformat()}")
        stored = DailyCount.objects.filter(day=day, kind=Kind.DAY).values_list("count", flat=True).first()
        if stored is not None and rows[0].count < stored:
            return False
        DailyCount.objects.filter(day=day).delete()
        DailyCount.objects.bulk_create(rows)
    return True


def oldest_audit_day() -> date | None:
    """The day of the oldest audit row (one read along the ``created_at`` index)."""
    oldest = AuditEvent.objects.order_by("created_at").values_list("created_at", flat=True).first()
    return None if oldest is None else today(oldest)


def rolled_days(first: date, last: date) -> set[date]:
    return set(DailyCount.objects.filter(kind=Kind.DAY, day__gte=first, day__lte=last).values_list("day", flat=True))


def roll_up(
    *,
    days: int = DEFAULT_DAYS,
    recompute: int = DEFAULT_RECOMPUTE,
    only: Iterable[date] = (),
    now: datetime | None = None,
) -> Result:
    """Roll up the last ``days`` closed days that have no rollup yet and recount the last
    ``recompute`` closed days (or exactly the closed days in ``only``)."""
    now = now or clock.now()
    yesterday = today(now) - timedelta(days=1)
    wanted = sorted(set(only)) or [yesterday - timedelta(days=i) for i in range(days - 1, -1, -1)]
    wanted = [day for day in wanted if day <= yesterday]
    if not wanted:
        return Result()
    existing = rolled_days(wanted[0], wanted[-1])
    fresh = {yesterday - timedelta(days=i) for i in range(recompute)}
    result = Result()
    for day in wanted:
        if day in existing and not (only or day in fresh):
            continue
        (result.rolled if roll_up_day(day, now=now) else result.kept).append(day)
    return result


def before_prune(*, cutoff: datetime, now: datetime | None = None) -> list[date]:
    """Before audit rows older than ``cutoff`` are deleted: roll up each closed day they
    belong to that has no rollup yet, so the charts keep it. Returns the days rolled up.
    (Today is not a closed day: a cutoff within today, ``--audit-days 0``, loses today's
    rows from today's chart.)"""
    now = now or clock.now()
    first = oldest_audit_day()
    if first is None:
        return []
    last = min(today(cutoff), today(now) - timedelta(days=1))
    if last < first:
        return []
    existing = rolled_days(first, last)
    done = []
    day = first
    while day <= last:
        if day not in existing:
            roll_up_day(day, now=now)
            done.append(day)
        day += timedelta(days=1)
    return done
