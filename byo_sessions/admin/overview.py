"""The overview dashboard (``/admin/byo_sessions/session/overview/``) and the panel the admin
index shows: numbers from ``stats.py`` (cached for ``OVERVIEW_CACHE_SECS``), charts from
``charts.py``. Viewing needs ``view_session``; the security charts and the failed-validation
rankings come from the audit trail, so they also need ``view_auditevent``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .. import stats
from . import charts


def may_view_audit(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.has_perm("byo_sessions.view_auditevent"))


def overview_context(request: HttpRequest, window_key: str) -> dict[str, Any]:
    """What the dashboard and the index panel render for one window."""
    numbers = stats.cached_overview(window_key=window_key)
    audit = may_view_audit(request)
    audit_url = reverse("admin:byo_sessions_auditevent_changelist")
    since = numbers.since.isoformat(sep=" ")

    def failed_link(**lookup: str) -> str:
        return (
            f"{audit_url}?{urlencode({'event_type__exact': 'validation_failed', 'created_at__gte': since, **lookup})}"
        )

    buckets, bucket = numbers.buckets, numbers.bucket
    return {
        "numbers": numbers,
        "windows": [(w.key, w.label) for w in stats.WINDOWS.values()],
        "may_view_audit": audit,
        "security_total": sum(s.total for s in numbers.security),
        "ended_total": sum(s.total for s in numbers.ended),
        "new_chart": charts.bar_chart(numbers.new_sessions, buckets, bucket),
        "logins_chart": charts.bar_chart(numbers.logins, buckets, bucket, colour=charts.PALETTE[2]),
        "ended_chart": charts.stacked_chart("Ended sessions by reason", numbers.ended, buckets, bucket),
        "security_chart": (
            charts.stacked_chart("Security events", numbers.security, buckets, bucket) if audit else None
        ),
        "failed_by_user": [(r, failed_link(user_ref=r.key)) for r in numbers.failed_by_user] if audit else [],
        "failed_by_ip": [(r, failed_link(ip_address=r.key)) for r in numbers.failed_by_ip] if audit else [],
        "security_rows": [
            (s, f"{audit_url}?{urlencode({'event_type__exact': s.key, 'created_at__gte': since})}")
            for s in numbers.security
        ],
    }


class OverviewMixin:
    """Adds ``overview/`` to the session admin (before its ``<object_id>/`` routes)."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site  # type: ignore[attr-defined]
        own = [path("overview/", site.admin_view(self.overview_view), name="byo_sessions_overview")]
        return own + super().get_urls()  # type: ignore[misc]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        window_key = request.GET.get("window", stats.DEFAULT_WINDOW)
        if window_key not in stats.WINDOWS:
            window_key = stats.DEFAULT_WINDOW
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Sessions overview",
            "opts": self.model._meta,  # type: ignore[attr-defined]
            **overview_context(request, window_key),
        }
        return TemplateResponse(request, "admin/byo_sessions/overview.html", context)
