"""What the protocol selects by filter: live sessions (not ended, before their absolute
expiry) of one caller's user and/or with given tags, ``FetchAllSessions`` pages of them,
and the cap on ``UpdateSessions`` (the update itself is ``services.sessions.update_many``).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from ..core import clock
from ..models import Session
from ..values import Err, SessionInfo
from ..services.sessions import external_id_error, session_info, with_tags

PAGE_SIZE = 100
MAX_SESSIONS_PER_UPDATE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SessionInfo]
    page: int
    page_size: int
    total_count: int
    has_more_results: bool


def live_sessions(external_user_id: str | None, session_tags: list[str] | None) -> QuerySet[Session] | Err:
    """Live sessions of the filter; a malformed tag is ``InvalidTagFormat``, never "all"."""
    queryset = Session.objects.filter(ended_at__isnull=True, expires_at__gt=clock.now())
    if external_user_id is not None:
        refused = external_id_error(external_user_id)
        if refused is not None:
            return refused
        queryset = queryset.filter(external_user_id=external_user_id)
    return with_tags(queryset, session_tags)


def fetch_page(*, external_user_id: str | None, session_tags: list[str] | None, page: int) -> Page | Err:
    """One page (0-based) of live sessions, newest first. ``total_count`` counts in SQL;
    a session past its policy's inactivity timeout but not yet ended is left out of
    ``items`` (the policy is resolved per session, which SQL cannot do)."""
    live = live_sessions(external_user_id, session_tags)
    if isinstance(live, Err):
        return live
    queryset = live.order_by("-created_at", "-id")
    total = queryset.count()
    start = page * PAGE_SIZE
    rows = list(queryset[start:start + PAGE_SIZE])
    now = clock.now()
    items = [info for info in map(session_info, rows) if info.expires_at > now]
    return Page(items=items, page=page, page_size=PAGE_SIZE, total_count=total,
                has_more_results=start + len(rows) < total)
