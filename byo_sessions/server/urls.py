"""Mount with ``path("byo-server/", include("byo_sessions.server.urls"))``; clients then
use ``create_client(url="https://host/byo-server", integration_key=...)``."""

from django.urls import path

from . import views

app_name = "byo_server"

urlpatterns = [
    path("run-command", views.run_command, name="run-command"),
]
