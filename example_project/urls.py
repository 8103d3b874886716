from django.contrib import admin
from django.urls import include, path

from byo_sessions.account.urls import account_urls
from byo_sessions.decorators import reauth_required
from byo_sessions.views import ReauthenticatePage
from example_project.demo import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.DemoLoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("account/", views.account, name="account"),
    # The package's "Your sessions" pages, in the demo's layout (byo_sessions.account); signing
    # out the other sessions asks for a recent sign-in (reauth_required, ASVS 3.7.1).
    path("account/sessions/", include(account_urls(base_template="demo/base.html", reauth_to_end_others=True))),
    path("account/password/", reauth_required(views.DemoPasswordChangeView.as_view()), name="password-change"),
    # byo_sessions' re-authentication page in the demo's look (BYO_SESSIONS["REAUTH_URL"]).
    path(
        "account/confirm/", ReauthenticatePage.as_view(template_name="demo/reauthenticate.html"), name="reauthenticate"
    ),
    path("api/me/", views.MeView.as_view(), name="api-me"),
    path("api/async/me/", views.async_me, name="api-async-me"),
    path("api/async/sessions/", views.async_sessions, name="api-async-sessions"),
    path("byo/", include("byo_sessions.urls")),
    path("api/byo/", include("byo_sessions.drf.urls")),  # self-service REST API (docs/api/rest.md)
    path("byo-server/", include("byo_sessions.server.urls")),  # session server for other backends
    path("admin/", admin.site.urls),
]
