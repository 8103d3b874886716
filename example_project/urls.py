from django.contrib import admin
from django.urls import include, path

from example_project.demo import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.DemoLoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("account/", views.account, name="account"),
    path("account/sessions/", views.session_list, name="sessions"),
    path("account/sessions/<str:session_id>/end/", views.end_session, name="end-session"),
    path("account/sessions/end-others/", views.end_other_sessions, name="end-other-sessions"),
    path("api/me/", views.MeView.as_view(), name="api-me"),
    path("byo/", include("byo_sessions.urls")),
    path("byo-server/", include("byo_sessions.server.urls")),  # session server for other backends
    path("admin/", admin.site.urls),
]
