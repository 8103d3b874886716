"""URLs to include: ``path("byo/", include("byo_sessions.urls"))`` mounts

* ``device/challenge``: the default ``fetchChallenge`` URL of ``device.js``
  (``/byo/device/challenge``);
* ``.well-known/jwks.json``: the public keys of stateless tokens;
* ``reauthenticate``: the page ``reauth_required`` sends page requests to (``REAUTH_URL``),
  and ``api/reauthenticate`` (password) and ``api/reauthenticate/device`` (a device proof)
  for API clients.

The first two are public (``login_not_required``, so ``LoginRequiredMiddleware`` lets them
through); the re-authentication ones need a session.
Login and logout are Django's own views (or any app's): they call ``auth.login()`` /
``auth.logout()``, which the session engine carries.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from .drf.jwks import jwks
from .drf.views import DeviceChallengeView, DeviceReauthenticateView, ReauthenticateView
from .views import ReauthenticatePage

app_name = "byo_sessions"

urlpatterns = [
    path("device/challenge", login_not_required(DeviceChallengeView.as_view()), name="device-challenge"),
    path(".well-known/jwks.json", jwks, name="jwks"),
    path("reauthenticate", ReauthenticatePage.as_view(), name="reauthenticate"),
    path("api/reauthenticate", ReauthenticateView.as_view(), name="reauthenticate-api"),
    path("api/reauthenticate/device", DeviceReauthenticateView.as_view(), name="reauthenticate-device"),
]
