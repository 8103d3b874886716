"""The admin, byo_sessions' own pages and the benchmark's one view (``scale_settings.py``)."""

from django.contrib import admin
from django.urls import include, path

from benchmarks.urls import whoami

urlpatterns = [path("admin/", admin.site.urls), path("byo/", include("byo_sessions.urls")), path("whoami/", whoami)]
