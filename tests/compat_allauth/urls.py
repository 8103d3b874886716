"""allauth (with usersessions) at ``accounts/``, dj-rest-auth at ``api/auth/``, and ``whoami/``
to see who the next request is."""

from __future__ import annotations

from django.urls import include, path

from tests.urls import whoami

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("api/auth/", include("dj_rest_auth.urls")),
    path("whoami/", whoami),
]
