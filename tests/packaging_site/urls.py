from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from byo_sessions.decorators import login_required


@login_required
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username(), "session": request.byo_session.session_id})


urlpatterns = [
    path("me/", me),
    path("accounts/", include("django.contrib.auth.urls")),
    path("byo/", include("byo_sessions.urls")),
    path("admin/", admin.site.urls),
]
