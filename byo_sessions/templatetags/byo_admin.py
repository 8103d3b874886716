"""``{% byo_overview_panel %}``: the last 24 hours on the admin index, for staff who may view
sessions (nothing for anyone else). Loaded by ``admin/byo_sessions/index.html``."""

from __future__ import annotations

from typing import Any

import django
from django import template

from .. import stats
from ..admin.overview import overview_context

register = template.Library()


@register.inclusion_tag("admin/byo_sessions/overview_panel.html", takes_context=True)
def byo_overview_panel(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user: Any = getattr(request, "user", None)
    if request is None or user is None or not user.has_perm("byo_sessions.view_session"):
        return {"show": False}
    return {"show": True, **overview_context(request, stats.DEFAULT_WINDOW)}


@register.inclusion_tag("admin/byo_sessions/breadcrumbs.html")
def byo_breadcrumbs(*crumbs: Any) -> dict[str, Any]:
    """``{% byo_breadcrumbs label url label url ... label %}`` in the markup of the running
    Django (an ``<ol>`` from 6.0, a ``<div>`` before), so the admin's own style applies."""
    pairs = [(crumbs[i], crumbs[i + 1] if i + 1 < len(crumbs) else "") for i in range(0, len(crumbs), 2)]
    return {"crumbs": pairs, "as_list": django.VERSION >= (6, 0)}
