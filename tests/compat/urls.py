"""A small project as a byo_sessions adopter would have it: Django's auth views and admin,
views guarded by Django's own ``login_required`` / ``LoginRequiredMixin``, a cart kept in
``request.session``, messages, a CSRF form, a view under byo's device rule, a DRF view on DRF's ``SessionAuthentication``,
and byo_sessions' public views (device challenge, JWKS, the session server)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path
from django.views import View
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from byo_sessions.decorators import device_verification_required
from byo_sessions.decorators import login_required as byo_login_required


def whoami(request: HttpRequest) -> JsonResponse:
    """Who the request belongs to, as Django code sees it (``request.user``, ``request.session``)."""
    return JsonResponse(
        {
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "data": {key: request.session.get(key) for key in ("k", "cart")},
        }
    )


@login_required
def protected(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username()})


class ProtectedView(LoginRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"user": request.user.get_username()})


def plain(request: HttpRequest) -> JsonResponse:
    """No decorator: open unless ``LoginRequiredMiddleware`` is installed."""
    return JsonResponse({"user": request.user.get_username() if request.user.is_authenticated else None})


def cart_add(request: HttpRequest) -> JsonResponse:
    request.session["cart"] = [*request.session.get("cart", []), request.GET["item"]]
    return JsonResponse({"cart": request.session["cart"]})


def cart(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"cart": request.session.get("cart", [])})


def message_add(request: HttpRequest) -> HttpResponse:
    messages.success(request, request.GET["text"])
    return HttpResponse("added")


def message_show(request: HttpRequest) -> HttpResponse:
    return render(request, "compat/messages.html")


def form(request: HttpRequest) -> HttpResponse:
    """GET renders ``{% csrf_token %}``; POST is accepted only past CsrfViewMiddleware."""
    if request.method == "POST":
        return HttpResponse("posted")
    return render(request, "compat/form.html", {"action": request.path})


@byo_login_required
@device_verification_required
def device_only(request: HttpRequest) -> JsonResponse:
    """byo's device rule on a view: every request needs a proof from the session's device."""
    return JsonResponse({"user": request.user.get_username()})


class DrfSessionMe(APIView):
    """DRF's own session authentication, as most DRF projects have it."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.get_username(), "pk": request.user.pk})

    def post(self, request: Request) -> Response:
        return Response({"posted": True, "user": request.user.get_username()})


urlpatterns: list[Any] = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("byo/", include("byo_sessions.urls")),
    path("byo-server/", include("byo_sessions.server.urls")),
    path("whoami/", whoami),
    path("protected/", protected),
    path("protected-cbv/", ProtectedView.as_view()),
    path("plain/", plain),
    path("cart/", cart),
    path("cart/add/", cart_add),
    path("messages/add/", message_add),
    path("messages/show/", message_show),
    path("form/", form),
    path("device-only/", device_only),
    path("drf/session-me/", DrfSessionMe.as_view()),
]
