"""Pages: the re-authentication page ``reauth_required`` sends page requests to.

A thin layer over ``services/reauthentication``: a password form (and, for a session
bound to a device, a button that confirms with a fresh device proof through the JSON
endpoint). A project shows it in its own look with
``ReauthenticatePage.as_view(template_name=...)`` and ``{% include
"byo_sessions/reauthenticate_form.html" %}``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import auth as django_auth
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from . import http
from .backends.db import SessionStore
from .decorators import login_required
from .services import reauthentication
from .values import Err, ErrorType


@method_decorator([never_cache, login_required], name="dispatch")
@method_decorator(sensitive_post_parameters("password"), name="post")
class ReauthenticatePage(View):
    template_name = "byo_sessions/reauthenticate.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request, error=None)

    def post(self, request: HttpRequest) -> HttpResponse:
        store = request.session
        if not isinstance(store, SessionStore) or store.byo_session is None:  # login_required let a non-byo user in
            raise ImproperlyConfigured("ReauthenticatePage needs byo_sessions' session engine and middleware.")
        client = http.client_info(request)
        result = reauthentication.reauthenticate_with_password(
            session_id=store.byo_session.session_id,
            user=request.user,
            password=request.POST.get("password"),
            ip_address=client.ip_address,
            user_agent=client.user_agent or "",
        )
        if not isinstance(result, Err):
            store.cycle_key()  # a new token after re-authentication (ASVS 5.0 7.2.4)
            return HttpResponseRedirect(http.safe_next(request, request.POST.get("next")))
        if result.error.type == ErrorType.SESSION_INVALIDATED:  # the last wrong answer ended it
            django_auth.logout(request)
            messages.error(request, "Too many wrong passwords: you have been signed out.")
            return redirect_to_login(http.safe_next(request, request.POST.get("next")))
        left = result.error.details.get("attempts_left")
        error = result.error.message + (f" {left} attempt(s) left." if isinstance(left, int) else "")
        return self._page(request, error=error)

    def _page(self, request: HttpRequest, *, error: str | None) -> HttpResponse:
        store = request.session
        next_url = http.safe_next(request, request.GET.get("next") or request.POST.get("next"))
        context: dict[str, Any] = {
            "error": error,
            "next": next_url,
            "form_action": request.get_full_path(),
            "device_bound": isinstance(store, SessionStore)
            and store.byo_session is not None
            and store.byo_session.has_device_registered,
            "device_url": reverse("byo_sessions:reauthenticate-device"),
        }
        return render(request, self.template_name, context)
