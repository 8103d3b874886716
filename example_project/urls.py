from django.contrib import admin
from django.urls import include, path

from byo_sessions.decorators import reauth_required
from byo_sessions.views import ReauthenticatePage
from example_project.demo import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.DemoLoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("account/", views.account, name="account"),
    path("account/sessions/", views.session_list, name="sessions"),
    path("account/sessions/<str:session_id>/end/", views.end_session, name="end-session"),
    path("account/sessions/end-others/", views.end_other_sessions, name="end-other-sessions"),
    path("account/password/", reauth_required(views.DemoPasswordChangeView.as_view()), name="password-change"),
    # byo_sessions' re-authentication page in the demo's look (BYO_SESSIONS["REAUTH_URL"]).
    path("account/confirm/", ReauthenticatePage.as_view(template_name="demo/reauthenticate.html"),
         name="reauthenticate"),
    path("api/me/", views.MeView.as_view(), name="api-me"),
    path("byo/", include("byo_sessions.urls")),
    path("byo-server/", include("byo_sessions.server.urls")),  # session server for other backends
    path("admin/", admin.site.urls),
]
