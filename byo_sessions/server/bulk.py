"""The two set-based operations the protocol has and the service layer does not:
``FetchAllSessions`` (paged) and ``UpdateSessions`` (many sessions at once).

Both work on live sessions: not ended and before their absolute expiry. Input is
cleaned by the same helpers ``services.sessions`` uses, so the rules (tag format,
metadata size, create-only tags, at most 32 tags) cannot drift apart.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from .. import audit, clock, policy_store
from ..audit import Event, EventType
from ..models import Session, SessionTag
from ..results import Err, ErrorType, Ok, err
from ..services.sessions import (
    MAX_METADATA_BYTES,
    _clean_metadata,
    _clean_tags,
    _with_tags,
    session_info,
)
from ..tags import MAX_TAGS, is_create_only
from ..values import SessionInfo

PAGE_SIZE = 100
MAX_SESSIONS_PER_UPDATE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SessionInfo]
    page: int
    page_size: int
    total_count: int
    has_more_results: bool


@dataclass(frozen=True, slots=True)
class TooManySessions:
    limit: int


def live_sessions(external_user_id: str | None, session_tags: list[str] | None) -> QuerySet[Session]:
    queryset = Session.objects.filter(ended_at__isnull=True, expires_at__gt=clock.now())
    if external_user_id is not None:
        queryset = queryset.filter(external_user_id=external_user_id)
    return _with_tags(queryset, session_tags)


def fetch_page(*, external_user_id: str | None, session_tags: list[str] | None, page: int) -> Page:
    """One page (0-based) of live sessions, newest first. ``total_count`` counts in SQL;
    a session past its policy's inactivity timeout but not yet ended is left out of
    ``items`` (the policy is resolved per session, which SQL cannot do)."""
    queryset = live_sessions(external_user_id, session_tags).order_by("-created_at", "-id")
    total = queryset.count()
    start = page * PAGE_SIZE
    rows = list(queryset[start:start + PAGE_SIZE])
    now = clock.now()
    items = [info for info in map(session_info, rows) if info.expires_at > now]
    return Page(items=items, page=page, page_size=PAGE_SIZE, total_count=total,
                has_more_results=start + len(rows) < total)


def update_many(*, external_user_id: str | None, session_tags: list[str] | None,
                tags_to_add: list[str] | None, tags_to_remove: list[str] | None,
                new_metadata: Any = None, patch_metadata: Any = None,
                actor: str = "") -> Ok[int] | Err | TooManySessions:
    """``update()`` for every live session matching the filter, all or nothing.

    Queries: one locking SELECT, one bulk UPDATE, one DELETE and one INSERT of tag rows,
    one INSERT of audit rows, whatever the number of sessions (at most
    ``MAX_SESSIONS_PER_UPDATE``; more is refused before anything is written).
    """
    if new_metadata is not None and patch_metadata is not None:
        return err(ErrorType.CONFLICTING_METADATA_OPTIONS, "Pass newMetadata or patchMetadata, not both.")
    adding = _clean_tags(tags_to_add)
    if isinstance(adding, Err):
        return adding
    removing = _clean_tags(tags_to_remove)
    if isinstance(removing, Err):
        return removing
    given = new_metadata if new_metadata is not None else patch_metadata
    cleaned = _clean_metadata(given) if given is not None else None
    if isinstance(cleaned, Err):
        return cleaned
    create_only = policy_store.current().create_only_tag_types
    with transaction.atomic():
        rows = list(live_sessions(external_user_id, session_tags).select_for_update()
                    .only("id", "user_id", "external_user_id", "tags", "metadata", "last_ip_address",
                          "last_user_agent")[:MAX_SESSIONS_PER_UPDATE + 1])
        if len(rows) > MAX_SESSIONS_PER_UPDATE:
            return TooManySessions(MAX_SESSIONS_PER_UPDATE)
        refused = _apply(rows, adding, removing, new_metadata is not None, cleaned, create_only)
        if refused is not None:
            return refused
        ids = [s.id for s in rows]
        Session.objects.bulk_update(rows, ["tags", "metadata"], batch_size=500)
        if removing:
            SessionTag.objects.filter(session_id__in=ids, tag__in=removing).delete()
        if adding:
            SessionTag.objects.bulk_create([SessionTag(session_id=i, tag=t) for i in ids for t in adding],
                                           ignore_conflicts=True, batch_size=500)
        details = {"tags_added": adding, "tags_removed": removing, "metadata_changed": given is not None,
                   "bulk": True}
        audit.record_many(Event.for_session(EventType.SESSION_UPDATED, s, actor=actor, details=details)
                          for s in rows)
    return Ok(len(rows))


def _apply(rows: list[Session], adding: list[str], removing: list[str], replace: bool,
           metadata: dict[str, Any] | None, create_only: Any) -> Err | None:
    """Compute each row's new tags and metadata in memory; the first refusal wins."""
    locked: list[str] = []
    for session in rows:
        current = list(session.tags)
        locked += [t for t in adding if t not in current and is_create_only(t, create_only) and t not in locked]
        locked += [t for t in removing if t in current and is_create_only(t, create_only) and t not in locked]
        session.tags = [t for t in current if t not in removing] + [t for t in adding if t not in current]
        if metadata is not None:
            session.metadata = metadata if replace else {**session.metadata, **metadata}
    if locked:
        return err(ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS, "These tags can only be set at creation.",
                   tag_names=locked)
    for session in rows:
        if len(session.tags) > MAX_TAGS:
            return err(ErrorType.INVALID_TAG_FORMAT, f"A session holds at most {MAX_TAGS} tags.",
                       tag=session.tags[-1])
        if len(json.dumps(session.metadata).encode()) > MAX_METADATA_BYTES:
            return err(ErrorType.INVALID_METADATA, f"Metadata is larger than {MAX_METADATA_BYTES} bytes.")
    return None
