"""Django's default admin site, named after the product and opening on the overview panel.

Only what the project left at Django's defaults changes: a project that set its own
``site_header`` or ``index_template`` (or uses its own ``AdminSite``) keeps it. The header
is read from ``BYO_SESSIONS["ADMIN_SITE_HEADER"]`` at render time (None: Django's own).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.utils.functional import lazy

from ..conf import byo_settings

INDEX_TEMPLATE = "admin/byo_sessions/index.html"


def _header(default: str) -> str:
    value = byo_settings.ADMIN_SITE_HEADER
    return value if isinstance(value, str) and value.strip() else default


site_header = lazy(lambda: _header(str(AdminSite.site_header)), str)()
site_title = lazy(lambda: _header(str(AdminSite.site_title)), str)()


def brand_default_site() -> None:
    site = admin.site
    if site.site_header == AdminSite.site_header:
        site.site_header = site_header
    if site.site_title == AdminSite.site_title:
        site.site_title = site_title
    if site.index_template is None:
        site.index_template = INDEX_TEMPLATE
