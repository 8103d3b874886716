"""Login/logout views on top of ``byo_sessions.login`` / ``logout``.

Django's ``LoginView``/``LogoutView`` call ``django.contrib.auth.login``, which needs
``request.session``; these subclasses keep Django's forms, templates and redirects and
swap only that call. ``byo_sessions.urls.admin_auth_patterns`` mounts them over the
admin's own login and logout.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse

from . import auth
from .results import Err


class LoginView(auth_views.LoginView):
    session_tags: list[str] = []

    def get_session_tags(self, user: Any) -> list[str]:
        """Hook: tags for the new session (e.g. ``["org:<id>"]``)."""
        return list(self.session_tags)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        result = auth.login(self.request, user, tags=self.get_session_tags(user))
        if isinstance(result, Err):
            form.add_error(None, result.error.message)
            return self.form_invalid(form)
        return HttpResponseRedirect(self.get_success_url())


class LogoutView(auth_views.LogoutView):
    def post(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        auth.logout(request)
        redirect_to = self.get_success_url()
        if redirect_to != request.get_full_path():
            return HttpResponseRedirect(redirect_to)
        return super(auth_views.LogoutView, self).get(request, *args, **kwargs)


class AdminLoginView(LoginView):
    template_name = "admin/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context.setdefault("title", "Log in")
        context.setdefault("site_header", admin.site.site_header)
        return context

    def get_success_url(self) -> str:
        return self.get_redirect_url() or reverse("admin:index")

    def form_valid(self, form: Any) -> HttpResponse:
        if not form.get_user().is_staff:
            form.add_error(None, "This account cannot use the admin.")
            return self.form_invalid(form)
        return super().form_valid(form)


class AdminLogoutView(LogoutView):
    template_name = "registration/logged_out.html"

    def get_success_url(self) -> str:
        return self.get_redirect_url() or reverse("admin:login")
