"""What the protocol selects by filter: live sessions (not ended, before their absolute
expiry) of one caller's user and/or with given tags, ``FetchAllSessions`` pages of them,
and the cap on ``UpdateSessions`` (the update itself is ``services.sessions.update_many``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import clock
from ..models import Session, SessionQuerySet
from ..services import owners
from ..services.sessions import session_info
from ..values import Err, SessionInfo

PAGE_SIZE = 100
MAX_SESSIONS_PER_UPDATE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SessionInfo]
    page: int
    page_size: int
    total_count: int
    has_more_results: bool


def live_sessions(external_user_id: str | None, session_tags: list[str] | None) -> SessionQuerySet | Err:
    """Live sessions of the filter (every owner's when ``external_user_id`` is None); a
    malformed id or tag is an error, never "all"."""
    queryset = Session.objects.all()
    if external_user_id is not None:
        owned = owners.sessions_of(external_user_id=external_user_id)
        if isinstance(owned, Err):
            return owned
        queryset = owned
    return owners.with_tags(queryset.live(clock.now()), session_tags)


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
    rows = list(queryset[start : start + PAGE_SIZE])
    now = clock.now()
    items = [info for info in map(session_info, rows) if info.expires_at > now]
    return Page(
        items=items, page=page, page_size=PAGE_SIZE, total_count=total, has_more_results=start + len(rows) < total
    )
