"""How the admin shows our values: users and sessions as links, tags as chips, durations in
units, event titles, JSON as readable text. One place, so every page says it the same way."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..models import AuditEvent

EMPTY = mark_safe('<span class="quiet">-</span>')
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration(seconds: float | timedelta | None) -> str:
    """``90061`` -> "1 day 1 hour" (the two largest units; "0 seconds" for nothing)."""
    if seconds is None:
        return "-"
    total = int(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)
    parts = []
    for name, size in _UNITS:
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount} {name}{'' if amount == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def event_title(event_type: str) -> str:
    try:
        return str(AuditEvent.Type(event_type).label)
    except ValueError:
        return event_type


def chips(tags: Any) -> SafeString:
    if not tags:
        return EMPTY
    return format_html_join("", '<span class="byo-chip">{}</span>', ((str(tag),) for tag in tags))


def _admin_url(name: str, *args: Any) -> str | None:
    """An admin page's URL; object ids quoted as the admin quotes them (its views unquote
    ``_3A`` and the like, which random ids can hold)."""
    try:
        return reverse(name, args=[quote(arg) for arg in args])
    except NoReverseMatch:
        return None


def user_link(user: Any) -> SafeString:
    """A Django user as a link to its admin page (when the user model is in the admin)."""
    if user is None:
        return EMPTY
    opts = user._meta
    url = _admin_url(f"admin:{opts.app_label}_{opts.model_name}_change", user.pk)
    return format_html('<a href="{}">{}</a>', url, user) if url else format_html("{}", user)


def owner_link(user: Any, external_user_id: str | None) -> SafeString:
    if user is not None:
        return user_link(user)
    if external_user_id is not None:
        return format_html('{} <span class="quiet">(external)</span>', external_user_id)
    return mark_safe('<span class="quiet">anonymous</span>')


def users_by_ref(refs: list[str]) -> dict[str, Any]:
    """The Django users among audit ``user_ref`` values (ids), in one query."""
    ids = sorted({ref for ref in refs if ref.isdigit()})
    if not ids:
        return {}
    return {str(u.pk): u for u in get_user_model()._default_manager.filter(pk__in=ids)}


def session_link(session_id: str) -> SafeString:
    if not session_id:
        return EMPTY
    url = _admin_url("admin:byo_sessions_session_change", session_id)
    return format_html('<a href="{}"><code>{}</code></a>', url, session_id) if url else format_html("{}", session_id)


def pretty_json(value: Any) -> SafeString:
    if value in (None, {}, []):
        return EMPTY
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )
