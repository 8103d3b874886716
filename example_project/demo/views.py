"""The demo site's pages: a thin layer over byo_sessions' services."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import byo_sessions
from byo_sessions import sessions
from byo_sessions.adapter import get_adapter
from byo_sessions.drf.authentication import SessionTokenAuthentication
from byo_sessions.decorators import login_required, reauth_required


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo/home.html")


class DemoLoginView(LoginView):
    """Django's login view and form; the template adds a device proof (``device_proof``)
    that ``byo_sessions.login`` verifies and binds to the new session. The tags are the
    adapter's (``adapter.DemoAdapter``), as for the admin's login form."""

    template_name = "demo/login.html"
    next_page = "account"

    def form_valid(self, form):
        user = form.get_user()
        options = get_adapter().login_options(self.request, user)
        result = byo_sessions.login(self.request, user, tags=options.tags, metadata=options.metadata)
        if byo_sessions.is_err(result):
            form.add_error(None, result.error.message)
            return self.form_invalid(form)
        if result.data.new_device_detected:
            messages.warning(self.request, "New device detected: we sent you an email.")
        return HttpResponseRedirect(self.get_success_url())


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
        return Response({"username": request.user.get_username(), "session_id": session.session_id,
                         "device": session.has_device_registered})


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    listed = sessions.fetch_all_for_user(user_id=request.user.pk).data
    return render(request, "demo/sessions.html", {
        "sessions": listed, "current_id": request.byo_session.session_id})


@require_POST
@login_required
def end_session(request: HttpRequest, session_id: str) -> HttpResponse:
    result = sessions.invalidate_by_id(session_id=session_id, user_id=request.user.pk, reason="user",
                                       actor=f"user:{request.user.pk}")
    if byo_sessions.is_ok(result):
        messages.success(request, "That session has ended.")
    else:
        messages.error(request, result.error.message)
    if session_id == request.byo_session.session_id:
        return HttpResponseRedirect(reverse("login"))
    return HttpResponseRedirect(reverse("sessions"))


@require_POST
@reauth_required  # a sensitive action: the password within REAUTH_MAX_AGE_SECS (ASVS 3.7.1)
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    ended = sessions.invalidate_all_for_user_except_one(
        user_id=request.user.pk, session_id_to_keep=request.byo_session.session_id, reason="user",
        actor=f"user:{request.user.pk}").data
    messages.success(request, f"Ended {ended} other session(s).")
    return HttpResponseRedirect(reverse("sessions"))


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
