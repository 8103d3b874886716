"""The overview numbers: what the admin dashboard draws and ``manage.py byo_stats`` prints.

One function, ``overview(window=...)``, answers everything for one window (24 hours,
7 or 30 days) in five aggregate queries, so the page and the command can never disagree:

* live sessions now: one COUNT over ``ended_at IS NULL`` (indexed), split by the stored
  expiry (indexed);
* everything over time (new sessions, users who logged in (distinct per bucket), ended by reason, security events, failed
  validations by user and by IP) comes from the audit trail, whose ``created_at`` is
  indexed: the window is an index range, grouped once by (bucket, type, reason);
* sessions by tag: the tag index joined to the live sessions, top ``TOP_N`` only.

"Active" here is what SQL can decide (not ended, before the absolute expiry stored on the
row); a session a policy's inactivity timeout ended but that nobody touched since still
counts until ``byo_prune`` or its next request marks it. The admin caches an overview for
``OVERVIEW_CACHE_SECS`` so page views do not repeat the window's scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import Trunc

from .conf import byo_settings
from .core import clock
from .models import AuditEvent, EndReason, Session, SessionTag

EventType = AuditEvent.Type
TOP_N = 10


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
    failed_by_user: list[Ranked] = field(default_factory=list)
    failed_by_ip: list[Ranked] = field(default_factory=list)

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


def overview(*, window_key: str = DEFAULT_WINDOW, now: datetime | None = None) -> Overview:
    """Every number of the dashboard for one window; raises ``UnknownWindow``."""
    spec = window(window_key)
    now = clock.now() if now is None else now
    buckets = _buckets(spec, now)
    since = buckets[0]
    index = {b: i for i, b in enumerate(buckets)}

    unended = Session.objects.filter(ended_at__isnull=True).aggregate(
        live=Count("id", filter=Q(expires_at__gt=now)), expired=Count("id", filter=Q(expires_at__lte=now))
    )

    def slot(at: datetime) -> int | None:
        return index.get(at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC))

    in_window = AuditEvent.objects.filter(created_at__gte=since, created_at__lte=now)
    at = Trunc("created_at", spec.bucket, tzinfo=UTC)
    grouped = (
        in_window.filter(event_type__in=_COUNTED)
        .annotate(at=at)
        .values("at", "event_type", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    per_type: dict[str, list[int]] = {}
    per_reason: dict[str, list[int]] = {}
    for row in grouped:
        i = slot(row["at"])
        if i is None:
            continue
        kind, n = row["event_type"], row["n"]
        per_type.setdefault(kind, [0] * len(buckets))[i] += n
        if kind in _ENDING_EVENTS:
            per_reason.setdefault(row["reason"] or kind, [0] * len(buckets))[i] += n
    logins = [0] * len(buckets)
    for users in (
        in_window.filter(event_type=EventType.SESSION_CREATED)
        .exclude(user_ref="")
        .annotate(at=at)
        .values("at")
        .annotate(n=Count("user_ref", distinct=True))
        .order_by()
    ):
        i = slot(users["at"])
        if i is not None:
            logins[i] = users["n"]

    zero = [0] * len(buckets)
    reasons = dict(EndReason.choices)
    ended = sorted(
        (Series(reason, str(reasons.get(reason, reason)), points) for reason, points in per_reason.items()),
        key=lambda s: (-s.total, s.key),
    )
    security = [Series(str(kind), label, per_type.get(kind, zero)) for kind, label in SECURITY_EVENTS]

    tags = (
        SessionTag.objects.filter(session__ended_at__isnull=True, session__expires_at__gt=now)
        .values("tag")
        .annotate(n=Count("id"))
        .order_by("-n", "tag")[:TOP_N]
    )
    failed = AuditEvent.objects.filter(
        created_at__gte=since, created_at__lte=now, event_type=EventType.VALIDATION_FAILED
    )
    by_user = list(
        failed.exclude(user_ref="").values("user_ref").annotate(n=Count("id")).order_by("-n", "user_ref")[:TOP_N]
    )
    by_ip = list(
        failed.exclude(ip_address=None)
        .values("ip_address")
        .annotate(n=Count("id"))
        .order_by("-n", "ip_address")[:TOP_N]
    )
    names = _user_labels([row["user_ref"] for row in by_user])

    return Overview(
        window=spec.key,
        label=spec.label,
        bucket=spec.bucket,
        since=since,
        until=now,
        buckets=buckets,
        active=unended["live"],
        expired_unmarked=unended["expired"],
        new_sessions=Series("new_sessions", "New sessions", per_type.get(EventType.SESSION_CREATED, zero)),
        logins=Series("logins", "Users who logged in", logins),
        ended=ended,
        security=security,
        by_tag=[Ranked(row["tag"], row["tag"], row["n"]) for row in tags],
        failed_by_user=[
            Ranked(row["user_ref"], names.get(row["user_ref"], row["user_ref"]), row["n"]) for row in by_user
        ],
        failed_by_ip=[Ranked(str(row["ip_address"]), str(row["ip_address"]), row["n"]) for row in by_ip],
    )


def cached_overview(*, window_key: str = DEFAULT_WINDOW) -> Overview:
    """``overview`` kept in Django's cache for ``OVERVIEW_CACHE_SECS`` (0: never cached),
    so a busy admin does not repeat the window's aggregate on every page view."""
    spec = window(window_key)
    ttl = byo_settings.OVERVIEW_CACHE_SECS
    if not ttl:
        return overview(window_key=spec.key)
    key = f"byo_sessions:overview:{spec.key}"
    found = cache.get(key)
    if isinstance(found, Overview):
        return found
    fresh = overview(window_key=spec.key)
    cache.set(key, fresh, ttl)
    return fresh
