"""The admin and the benchmark's one view (``scale_settings.py``)."""
from django.contrib import admin
from django.urls import path

from benchmarks.urls import whoami

urlpatterns = [path("admin/", admin.site.urls), path("whoami/", whoami)]
