"""URLs to include.

* ``path("byo/", include("byo_sessions.urls"))`` mounts ``device/challenge`` (the
  default ``fetchChallenge`` URL of ``device.js`` is ``/byo/device/challenge``).
* ``path("admin/", include(byo_sessions.urls.admin_auth_patterns))`` *before*
  ``admin.site.urls`` makes the admin log in through byo sessions.
* ``.well-known/jwks.json`` (under the same mount, e.g. ``/byo/.well-known/jwks.json``)
  serves the public keys of stateless tokens.
"""
from django.urls import path

from . import views
from .api.jwks import jwks
from .api.views import DeviceChallengeView

app_name = "byo_sessions"

admin_auth_patterns = [
    path("login/", views.AdminLoginView.as_view(), name="byo-admin-login"),
    path("logout/", views.AdminLogoutView.as_view(), name="byo-admin-logout"),
]

urlpatterns = [
    path("device/challenge", DeviceChallengeView.as_view(), name="device-challenge"),
    path(".well-known/jwks.json", jwks, name="jwks"),
]
