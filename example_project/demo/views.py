"""The demo site's pages: a thin layer over byo_sessions' services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import byo_sessions
from byo_sessions import sessions
from byo_sessions.account import views as account_views
from byo_sessions.decorators import device_verification_required, login_required
from byo_sessions.drf.authentication import SessionTokenAuthentication


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html")


class DemoLoginView(account_views.LoginView):
    """The package's login view (``byo_sessions.account.views.LoginView``: Django's form, the
    adapter's tags (``adapter.DemoAdapter``), why a browser was signed out, the session-limit
    way out) with the demo's template, which adds a device proof (``device_proof``) that
    ``byo_sessions.login`` verifies and binds to the new session."""

    template_name = "demo/login.html"
    next_page = "account"
    new_device_message = "New device detected: we sent you an email."


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/account.html", {"session": request.byo_session})


class MeView(APIView):
    """``GET /api/me/``: needs the session and a fresh proof from the session's device."""

    authentication_classes = [SessionTokenAuthentication]
    permission_classes = [IsAuthenticated]
    byo_device_required = True  # read by byo_sessions' middleware from the view class

    def get(self, request: Request) -> Response:
        session = request.auth  # the ValidatedSession
        # Only a request signed by the session's device gets here, so "device" is true.
        return Response(
            {
                "username": request.user.get_username(),
                "session_id": session.session_id,
                "device": session.has_device_registered,
            }
        )


class DemoPasswordChangeView(PasswordChangeView):
    """Django's own view and form (the other sessions end, this one goes on with a new
    token), behind a recent re-authentication (the ``reauth_required`` in urls.py)."""

    template_name = "demo/password_change.html"
    success_url = reverse_lazy("account")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password has changed; your other sessions have ended.")
        return response


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    byo_sessions.logout(request)
    messages.info(request, "You are logged out.")
    return HttpResponseRedirect(reverse("home"))


# --- async views (served under ASGI: ``uvicorn example_project.asgi:application``) -----------
# The middleware has validated the session before the view runs (in Django's sync thread);
# the views only await what touches the database.


@login_required
@device_verification_required
async def async_me(request: HttpRequest) -> JsonResponse:
    """``GET /api/async/me/``: like ``/api/me/``, an async view that needs a fresh device proof."""
    user = await request.auser()
    session = request.byo_session
    return JsonResponse(
        {"username": user.get_username(), "session_id": session.session_id, "device": session.has_device_registered}
    )


@login_required
async def async_sessions(request: HttpRequest) -> JsonResponse:
    """``GET /api/async/sessions/``: my live sessions, from an async view."""
    user = await request.auser()
    listed = await sessions.afetch_all_for_user(user_id=user.pk)
    return JsonResponse(
        {
            "current": request.byo_session.session_id,
            "sessions": [{"id": info.session_id, "device_bound": info.has_device_registered} for info in listed.data],
        }
    )
