"""URLs to include.

* ``path("admin/", include(byo_sessions.urls.admin_auth_patterns))`` *before*
  ``admin.site.urls`` makes the admin log in through byo sessions.
* ``path("byo/", include("byo_sessions.urls"))`` mounts the device-challenge endpoint.
"""
from django.urls import path

from . import views

app_name = "byo_sessions"

admin_auth_patterns = [
    path("login/", views.AdminLoginView.as_view(), name="byo-admin-login"),
    path("logout/", views.AdminLogoutView.as_view(), name="byo-admin-logout"),
]

urlpatterns: list = []
