"""URLs of the self-service REST API (``drf/api.py``):
``path("api/byo/", include("byo_sessions.drf.urls"))`` mounts

* ``sessions/`` GET: my live sessions, the current one first;
* ``sessions/<id>/`` DELETE: end one of mine;
* ``sessions/end-others/`` POST: end all mine but the current one;
* ``devices/`` GET: my devices; ``devices/<id>/`` DELETE: end its sessions and forget it.
"""

from django.urls import path

from . import api

app_name = "byo_sessions_api"

urlpatterns = [
    path("sessions/", api.SessionListView.as_view(), name="sessions"),
    path("sessions/end-others/", api.EndOtherSessionsView.as_view(), name="end-other-sessions"),
    path("sessions/<str:session_id>/", api.SessionDetailView.as_view(), name="session"),
    path("devices/", api.DeviceListView.as_view(), name="devices"),
    path("devices/<str:device_id>/", api.DeviceDetailView.as_view(), name="device"),
]
