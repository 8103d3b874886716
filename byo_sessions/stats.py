"""The overview numbers: what the admin dashboard draws and ``manage.py byo_stats`` prints.

One function, ``overview(window=...)``, answers everything for one window (24 hours,
7 or 30 days), so the page and the command can never disagree:

* live sessions now: one COUNT over ``ended_at IS NULL`` (indexed), split by the stored
  expiry (indexed);
* everything over time (new sessions, users who logged in (distinct per bucket), ended by
  reason, security events, failed validations by user and by IP) comes from the audit
  trail: closed days from the daily rollups (``DailyCount``, one range read) where
  ``byo_rollup`` made them, the rest (today, any day not rolled up, and the 24-hour window)
  from the audit rows, whose ``created_at`` is indexed: ``raw_tally`` reads those ranges,
  grouped once by (bucket, type, reason). The rollups are ``raw_tally`` of one day, stored;
* sessions by tag: the tag index joined to the live sessions, top ``TOP_N`` only.

"Active" here is what SQL can decide (not ended, before the absolute expiry stored on the
row); a session a policy's inactivity timeout ended but that nobody touched since still
counts until ``byo_prune`` or its next request marks it. The admin caches an overview for
``OVERVIEW_CACHE_SECS`` so page views do not repeat the window's reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import Trunc

from .conf import byo_settings
from .core import clock
from .models import AuditEvent, DailyCount, EndReason, Session, SessionTag
from .services.geo import country_name

EventType = AuditEvent.Type
TOP_N = 10
# Failed validations a day's rollup keeps per user and per IP address: a window's top
# ``TOP_N`` is summed from each day's top ``ROLLUP_TOP`` (exact unless more than that many
# users or addresses failed on one day, where one just outside a day's top is not counted).
ROLLUP_TOP = 50


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    label: str
    length: timedelta
    bucket: str  # "hour" or "day": the Trunc kind of one point


WINDOWS: dict[str, Window] = {
    "24h": Window("24h", "Last 24 hours", timedelta(hours=24), "hour"),
    "7d": Window("7d", "Last 7 days", timedelta(days=7), "day"),
    "30d": Window("30d", "Last 30 days", timedelta(days=30), "day"),
}
DEFAULT_WINDOW = "24h"

# Security events an operator checks first, in the order the dashboard shows them (their
# titles are the event types' own labels, the ones the audit list shows).
SECURITY_EVENTS: tuple[tuple[str, str], ...] = tuple(
    (str(t), str(t.label))
    for t in (
        EventType.TOKEN_REUSE_DETECTED,
        EventType.DEVICE_VERIFICATION_FAILED,
        EventType.NEW_DEVICE_DETECTED,
        EventType.SESSION_LIMIT_EXCEEDED,
        EventType.IP_CHANGED,
        EventType.USER_AGENT_CHANGED,
        EventType.VALIDATION_FAILED,
    )
)
_ENDING_EVENTS = (EventType.SESSION_INVALIDATED, EventType.SESSION_EXPIRED)
_COUNTED = (EventType.SESSION_CREATED, *_ENDING_EVENTS, *(t for t, _ in SECURITY_EVENTS))


class UnknownWindow(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Unknown window {key!r}: use one of {', '.join(WINDOWS)}.")


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: a count per bucket, zero-filled, oldest first."""

    key: str
    label: str
    points: list[int]

    @property
    def total(self) -> int:
        return sum(self.points)


@dataclass(frozen=True, slots=True)
class Ranked:
    key: str  # a tag, a user ref or an IP address
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Overview:
    window: str
    label: str
    bucket: str
    since: datetime
    until: datetime
    buckets: list[datetime]
    active: int
    expired_unmarked: int
    new_sessions: Series
    logins: Series
    ended: list[Series] = field(default_factory=list)  # by reason, most frequent first
    security: list[Series] = field(default_factory=list)
    by_tag: list[Ranked] = field(default_factory=list)
    new_by_country: list[Ranked] = field(default_factory=list)  # "" (unknown) included
    failed_by_user: list[Ranked] = field(default_factory=list)
    failed_by_ip: list[Ranked] = field(default_factory=list)
    closed_days: int = 0  # the window's whole days before today (none for 24 hours)
    days_from_rollups: int = 0  # of those, read from the daily rollups (the rest: counted live)

    @property
    def days_computed_live(self) -> int:
        return self.closed_days - self.days_from_rollups

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types (ISO times), the ``--json`` output."""
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat()
        data["buckets"] = [b.isoformat() for b in self.buckets]
        return data


def window(key: str) -> Window:
    try:
        return WINDOWS[key]
    except KeyError:
        raise UnknownWindow(key) from None


def _buckets(spec: Window, now: datetime) -> list[datetime]:
    step = timedelta(hours=1) if spec.bucket == "hour" else timedelta(days=1)
    last = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if spec.bucket == "day":
        last = last.replace(hour=0)
    count = int(spec.length / step)
    return [last - step * i for i in range(count - 1, -1, -1)]


def _user_labels(refs: list[str]) -> dict[str, str]:
    """Usernames for the refs that are Django user ids (one query); others stay as they are."""
    user_model = get_user_model()
    ids = [ref for ref in refs if ref.isdigit()]
    if not ids:
        return {}
    return {
        str(pk): str(name)
        for pk, name in user_model._default_manager.filter(pk__in=ids).values_list("pk", user_model.USERNAME_FIELD)
    }


@dataclass(slots=True)
class Tally:
    """What the audit trail says over some time, per bucket: the part of an overview that a
    daily rollup can keep (``services/rollups.py``) and the raw rows can recount."""

    size: int
    events: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (type, reason) -> points
    logins: list[int] = field(default_factory=list)
    failed_by_user: Counter[str] = field(default_factory=Counter)
    failed_by_ip: Counter[str] = field(default_factory=Counter)
    new_by_country: Counter[str] = field(default_factory=Counter)  # ISO code; "" when unknown

    def __post_init__(self) -> None:
        self.logins = self.logins or [0] * self.size

    def add_event(self, i: int, kind: str, reason: str, n: int) -> None:
        self.events.setdefault((kind, reason), [0] * self.size)[i] += n


def raw_tally(*, where: Q, bucket: str, buckets: list[datetime]) -> Tally:
    """Count the audit rows ``where`` selects (ranges of ``created_at``, an index range) into
    ``buckets``: grouped once by (bucket, type, reason), distinct users per bucket, the top
    ``ROLLUP_TOP`` users and IP addresses by failed validations, and new sessions by
    country (the audit row's, looked up at login). Five queries."""
    index = {b: i for i, b in enumerate(buckets)}

    def slot(at: datetime) -> int | None:
        return index.get(at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC))

    tally = Tally(len(buckets))
    rows = AuditEvent.objects.filter(where)
    at = Trunc("created_at", bucket, tzinfo=UTC)
    grouped = (
        rows.filter(event_type__in=_COUNTED)
        .annotate(at=at)
        .values("at", "event_type", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in grouped:
        i = slot(row["at"])
        if i is not None:
            tally.add_event(i, row["event_type"], row["reason"], row["n"])
    for users in (
        rows.filter(event_type=EventType.SESSION_CREATED)
        .exclude(user_ref="")
        .annotate(at=at)
        .values("at")
        .annotate(n=Count("user_ref", distinct=True))
        .order_by()
    ):
        i = slot(users["at"])
        if i is not None:
            tally.logins[i] = users["n"]
    failed = rows.filter(event_type=EventType.VALIDATION_FAILED)
    by_user = failed.exclude(user_ref="").values("user_ref").annotate(n=Count("id")).order_by("-n", "user_ref")
    tally.failed_by_user.update({row["user_ref"]: row["n"] for row in by_user[:ROLLUP_TOP]})
    by_ip = failed.exclude(ip_address=None).values("ip_address").annotate(n=Count("id")).order_by("-n", "ip_address")
    tally.failed_by_ip.update({str(row["ip_address"]): row["n"] for row in by_ip[:ROLLUP_TOP]})
    created = rows.filter(event_type=EventType.SESSION_CREATED).values("country").annotate(n=Count("id")).order_by()
    tally.new_by_country.update({row["country"]: row["n"] for row in created})
    return tally


RolledRow = tuple[date, str, str, str, int]  # DailyCount's day, kind, key, reason, count


def _rolled_tally(rows: list[RolledRow], buckets: list[datetime]) -> Tally:
    """The rollup rows of the window's closed days, as a tally of day buckets."""
    index = {b.date(): i for i, b in enumerate(buckets)}
    tally = Tally(len(buckets))
    for day, kind, key, reason, count in rows:
        i = index.get(day)
        if i is None:
            continue
        if kind == DailyCount.Kind.EVENT:
            tally.add_event(i, key, reason, count)
        elif kind == DailyCount.Kind.LOGINS:
            tally.logins[i] += count
        elif kind == DailyCount.Kind.FAILED_USER:
            tally.failed_by_user[key] += count
        elif kind == DailyCount.Kind.FAILED_IP:
            tally.failed_by_ip[key] += count
        elif kind == DailyCount.Kind.NEW_BY_COUNTRY:
            tally.new_by_country[key] += count
    return tally


def _live_where(buckets: list[datetime], rolled: set[date], now: datetime) -> Q:
    """``created_at`` ranges of the buckets no rollup holds (today always): consecutive
    days merged, so a window with every closed day rolled up reads only today's rows."""
    step = buckets[1] - buckets[0] if len(buckets) > 1 else timedelta(days=1)
    spans: list[list[datetime]] = []
    for start in buckets:
        if start.date() in rolled and start != buckets[-1]:
            continue
        if spans and spans[-1][1] == start:
            spans[-1][1] = start + step
        else:
            spans.append([start, start + step])
    where = Q()
    for begin, end in spans:
        where |= Q(created_at__gte=begin, created_at__lt=end) if end <= now else Q(created_at__gte=begin)
    return where & Q(created_at__lte=now)


def _top(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]


@dataclass(frozen=True, slots=True)
class Current:
    """The numbers of this moment, the same in every window (and no rollup can hold them):
    live sessions and the live sessions by tag. Both read every live session, so the admin
    caches them once for all windows."""

    active: int
    expired_unmarked: int
    by_tag: list[Ranked]


def right_now(now: datetime) -> Current:
    """Two queries: the unended sessions by stored expiry, and the top tags of the live ones."""
    unended = Session.objects.filter(ended_at__isnull=True).aggregate(
        live=Count("id", filter=Q(expires_at__gt=now)), expired=Count("id", filter=Q(expires_at__lte=now))
    )
    tags = (
        SessionTag.objects.filter(session__ended_at__isnull=True, session__expires_at__gt=now)
        .values("tag")
        .annotate(n=Count("id"))
        .order_by("-n", "tag")[:TOP_N]
    )
    return Current(
        active=unended["live"],
        expired_unmarked=unended["expired"],
        by_tag=[Ranked(row["tag"], row["tag"], row["n"]) for row in tags],
    )


def overview(
    *,
    window_key: str = DEFAULT_WINDOW,
    now: datetime | None = None,
    use_rollups: bool = True,
    current: Current | None = None,
) -> Overview:
    """Every number of the dashboard for one window; raises ``UnknownWindow``.

    Per day windows read their closed days from the daily rollups where ``byo_rollup`` (or
    ``byo_prune``) made them, and only the rest (today, and any day not rolled up) from
    the audit rows; ``use_rollups=False`` recounts everything from the audit rows.
    ``current``: this moment's numbers when the caller has them (``right_now``)."""
    spec = window(window_key)
    now = clock.now() if now is None else now
    buckets = _buckets(spec, now)
    since = buckets[0]
    closed_days = [b.date() for b in buckets[:-1]] if spec.bucket == "day" else []

    current = right_now(now) if current is None else current
    rows: list[RolledRow] = []
    if closed_days and use_rollups:
        rows = list(
            DailyCount.objects.filter(day__gte=closed_days[0], day__lte=closed_days[-1])
            .order_by()
            .values_list("day", "kind", "key", "reason", "count")
        )
    rolled = {row[0] for row in rows if row[1] == DailyCount.Kind.DAY}
    tally = raw_tally(where=_live_where(buckets, rolled, now), bucket=spec.bucket, buckets=buckets)
    kept = _rolled_tally(rows, buckets)
    for key, points in kept.events.items():
        for i, n in enumerate(points):
            if n:
                tally.add_event(i, key[0], key[1], n)
    tally.logins = [a + b for a, b in zip(tally.logins, kept.logins, strict=True)]
    tally.failed_by_user.update(kept.failed_by_user)
    tally.failed_by_ip.update(kept.failed_by_ip)
    tally.new_by_country.update(kept.new_by_country)

    zero = [0] * len(buckets)
    per_type: dict[str, list[int]] = {}
    per_reason: dict[str, list[int]] = {}
    for (kind, reason), points in tally.events.items():
        per_type[kind] = [a + b for a, b in zip(per_type.get(kind, zero), points, strict=True)]
        if kind in _ENDING_EVENTS:
            reason = reason or kind
            per_reason[reason] = [a + b for a, b in zip(per_reason.get(reason, zero), points, strict=True)]
    reasons = dict(EndReason.choices)
    ended = sorted(
        (Series(reason, str(reasons.get(reason, reason)), points) for reason, points in per_reason.items()),
        key=lambda s: (-s.total, s.key),
    )
    security = [Series(str(kind), label, per_type.get(kind, zero)) for kind, label in SECURITY_EVENTS]

    by_user = _top(tally.failed_by_user)
    names = _user_labels([ref for ref, _n in by_user])

    return Overview(
        window=spec.key,
        label=spec.label,
        bucket=spec.bucket,
        since=since,
        until=now,
        buckets=buckets,
        active=current.active,
        expired_unmarked=current.expired_unmarked,
        new_sessions=Series("new_sessions", "New sessions", per_type.get(EventType.SESSION_CREATED, zero)),
        logins=Series("logins", "Users who logged in", tally.logins),
        ended=ended,
        security=security,
        by_tag=current.by_tag,
        failed_by_user=[Ranked(ref, names.get(ref, ref), n) for ref, n in by_user],
        failed_by_ip=[Ranked(ip, ip, n) for ip, n in _top(tally.failed_by_ip)],
        new_by_country=[
            Ranked(code, country_name(code) if code else "Unknown", n) for code, n in _top(tally.new_by_country)
        ],
        closed_days=len(closed_days),
        days_from_rollups=len(rolled),
    )


def cached_overview(*, window_key: str = DEFAULT_WINDOW) -> Overview:
    """``overview`` kept in Django's cache for ``OVERVIEW_CACHE_SECS`` (0: never cached),
    so a busy admin does not repeat the window's reads on every page view; this moment's
    numbers (``right_now``) are cached once for every window."""
    spec = window(window_key)
    ttl = byo_settings.OVERVIEW_CACHE_SECS
    if not ttl:
        return overview(window_key=spec.key)
    key = f"byo_sessions:overview:{spec.key}"
    found = cache.get(key)
    if isinstance(found, Overview):
        return found
    current = cache.get(CURRENT_KEY)
    if not isinstance(current, Current):
        current = right_now(clock.now())
        cache.set(CURRENT_KEY, current, ttl)
    fresh = overview(window_key=spec.key, current=current)
    cache.set(key, fresh, ttl)
    return fresh


CURRENT_KEY = "byo_sessions:overview:now"
