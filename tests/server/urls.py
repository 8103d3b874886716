"""The session server mounted alone, as a sidecar deployment would."""

from django.urls import include, path

urlpatterns = [path("byo-server/", include("byo_sessions.server.urls"))]
