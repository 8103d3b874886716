"""Views used by the HTTP-level tests."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required as django_login_required
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

import byo_sessions
from byo_sessions.decorators import device_verification_required, login_required
from byo_sessions.drf.authentication import SessionTokenAuthentication


def whoami(request: HttpRequest) -> JsonResponse:
    session = request.byo_session
    error = request.byo_session_error
    return JsonResponse(
        {
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "session_id": session.session_id if session else None,
            "error": str(error.type) if error else None,
        }
    )


@login_required
def protected(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username(), "session_id": request.byo_session.session_id})


@django_login_required
def django_protected(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username()})


@login_required
async def async_protected(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse({"user": user.get_username(), "session_id": request.byo_session.session_id})


async def async_whoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


def login_view(request: HttpRequest) -> JsonResponse:
    user = get_user_model().objects.get(username=request.POST["username"])
    result = byo_sessions.login(request, user, tags=request.POST.getlist("tag") or None)
    if byo_sessions.is_err(result):
        return JsonResponse({"type": str(result.error.type)}, status=400)
    return JsonResponse({"session_id": result.data.session_id})


def logout_view(request: HttpRequest) -> JsonResponse:
    byo_sessions.logout(request)
    return JsonResponse({"ok": True})


@csrf_exempt
def api_login(request: HttpRequest) -> JsonResponse:
    user = get_user_model().objects.get(username=request.POST["username"])
    result = byo_sessions.sessions.create(user_id=user.pk)
    return JsonResponse({"token": result.data.session_token})


@login_required
@device_verification_required
def device_api(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username()})


def post_echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"method": request.method, "user": request.user.get_username()})


class DrfMe(APIView):
    authentication_classes = [SessionTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"user": request.user.get_username(), "session_id": request.auth.session_id})

    def post(self, request):
        return Response({"posted": True})


class DrfDeviceMe(DrfMe):
    byo_device_required = True


urlpatterns = [
    path("drf/me/", DrfMe.as_view()),
    path("drf/device-me/", DrfDeviceMe.as_view()),
    path("whoami/", whoami),
    path("protected/", protected),
    path("django-protected/", django_protected),
    path("async-protected/", async_protected),
    path("async-whoami/", async_whoami),
    path("login/", login_view),
    path("logout/", logout_view),
    path("api-login/", api_login),
    path("post-echo/", post_echo),
    path("device-api/", device_api),
    path("byo/", include("byo_sessions.urls")),
    path("api/byo/", include("byo_sessions.drf.urls")),
    path("admin/", admin.site.urls),
]


from byo_sessions.decorators import session_exempt  # noqa: E402


@session_exempt
def exempt_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "session": request.byo_session is not None,
        }
    )


urlpatterns.append(path("exempt/", exempt_view))
