"""The end-user account views: "Your sessions" (end one, end all others after a confirmation)
and a login view that says why a browser was signed out and offers to end the oldest
session when a session limit refuses a login.

Every view is a thin layer over ``byo_sessions.sessions``; each takes ``base_template`` (the
template the pages extend, set by ``account.urls.account_urls``). The pages need
``django.contrib.messages``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from .. import auth, http
from ..adapter import get_adapter
from ..core import clock
from ..decorators import login_required, reauth_required
from ..models import EndReason
from ..services import sessions as session_service
from ..values import CreatedSession, Err, ErrorType, Ok, SessionInfo
from .reasons import signed_out_in_words

DEFAULT_BASE = "byo_sessions/account/base.html"
RECENTLY_ENDED_DAYS = 7
RECENTLY_ENDED_LIMIT = 10


@dataclass(frozen=True)
class SessionRow:
    """One session as the page shows it."""

    info: SessionInfo
    is_current: bool


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.pk}"


def _current_id(request: HttpRequest) -> str:
    return request.byo_session.session_id  # type: ignore[attr-defined]


def live_rows(request: HttpRequest) -> list[SessionRow]:
    """The user's live sessions: this one first, then the most recently active."""
    live = session_service.fetch_all_for_user(user_id=request.user.pk)
    infos: list[SessionInfo] = live.data if isinstance(live, Ok) else []
    current = _current_id(request)
    infos.sort(key=lambda info: (info.session_id != current, -info.last_activity_at.timestamp()))
    return [SessionRow(info=info, is_current=info.session_id == current) for info in infos]


@login_required
def sessions_page(request: HttpRequest, base_template: str = DEFAULT_BASE) -> HttpResponse:
    since = clock.now() - timedelta(days=RECENTLY_ENDED_DAYS)
    ended = session_service.fetch_recently_ended(user_id=request.user.pk, since=since, limit=RECENTLY_ENDED_LIMIT)
    rows = live_rows(request)
    return render(
        request,
        "byo_sessions/account/sessions.html",
        {
            "base_template": base_template,
            "rows": rows,
            "others": [row for row in rows if not row.is_current],
            "ended": ended.data if isinstance(ended, Ok) else [],
            "recent_days": RECENTLY_ENDED_DAYS,
        },
    )


@require_POST
@login_required
def end_session(request: HttpRequest, session_id: str, base_template: str = DEFAULT_BASE) -> HttpResponse:
    if session_id == _current_id(request):  # this device: an ordinary sign-out (reason "logout")
        auth.logout(request)
        messages.info(request, _("You signed out of this device."))
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
    result = session_service.invalidate_by_id(
        session_id=session_id, user_id=request.user.pk, reason=EndReason.USER, actor=_actor(request)
    )
    if isinstance(result, Err):
        messages.error(request, _("That session was not found; it may have ended already."))
    else:
        messages.success(request, _("That session has ended: the device it was on is signed out."))
    return HttpResponseRedirect(reverse("byo_account:sessions"))


@require_http_methods(["GET", "POST"])
@login_required
def end_other_sessions(request: HttpRequest, base_template: str = DEFAULT_BASE, reauth: bool = False) -> HttpResponse:
    """GET: what would end, and a button to confirm; POST: end them (after a recent sign-in
    when ``reauth``: a page request goes to ``REAUTH_URL`` and comes back)."""
    if request.method == "GET":
        others = [row for row in live_rows(request) if not row.is_current]
        return render(
            request, "byo_sessions/account/end_others.html", {"base_template": base_template, "others": others}
        )
    return _end_others_after_reauth(request) if reauth else _end_others(request)


def _end_others(request: HttpRequest) -> HttpResponse:
    result = session_service.invalidate_all_for_user_except_one(
        user_id=request.user.pk, session_id_to_keep=_current_id(request), reason=EndReason.USER, actor=_actor(request)
    )
    count = result.data if isinstance(result, Ok) else 0
    messages.success(
        request,
        ngettext("Signed out %(count)d other session.", "Signed out %(count)d other sessions.", count)
        % {"count": count},
    )
    return HttpResponseRedirect(reverse("byo_account:sessions"))


_end_others_after_reauth = reauth_required(_end_others)


def add_signed_out_message(request: HttpRequest) -> bool:
    """If this browser was just signed out (``http.signed_out_notice``), say why; True if it was."""
    reason = http.signed_out_notice(request)
    if reason is None:
        return False
    messages.info(request, signed_out_in_words(reason), fail_silently=True)
    return True


class LoginView(auth_views.LoginView):
    """Django's ``LoginView`` over ``byo_sessions.login``, with the adapter's tags and metadata.

    - A browser signed out by an ended session is told why (a message, once).
    - A login refused by a session limit (``reject_new``) offers to end the user's oldest
      session: the form comes back with an ``end_oldest`` checkbox naming that session;
      ticked, the next valid login ends it and signs in (the password is asked again).
    - ``new_device_message``: shown when the login's device is new for the user.
    """

    template_name = "byo_sessions/account/login.html"
    base_template = DEFAULT_BASE  # what the package's login.html extends
    new_device_message: str | None = None
    session_limit_oldest: SessionInfo | None = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        told = add_signed_out_message(request)
        response = super().get(request, *args, **kwargs)
        if told:
            http.clear_signed_out_notice(response)
        return response

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        result = self._login(user)
        if (
            isinstance(result, Err)
            and result.error.type == ErrorType.SESSION_LIMIT_EXCEEDED
            and self.request.POST.get("end_oldest")
            and self._end_oldest(user, result.error.details.get("scope"))
        ):
            result = self._login(user)
        if isinstance(result, Err):
            if result.error.type == ErrorType.SESSION_LIMIT_EXCEEDED:
                self.session_limit_oldest = _oldest(user, result.error.details.get("scope"))
                form.add_error(
                    None,
                    _(
                        "You are signed in on as many devices as your account allows. Sign out on "
                        "one of them, or end your oldest session below."
                    ),
                )
            else:
                form.add_error(None, result.error.message)
            return self.form_invalid(form)
        if result.data.new_device_detected and self.new_device_message:
            messages.warning(self.request, self.new_device_message)
        return HttpResponseRedirect(self.get_success_url())

    def _login(self, user: Any) -> Ok[CreatedSession] | Err:
        options = get_adapter().login_options(self.request, user)
        return auth.login(self.request, user, tags=options.tags, metadata=options.metadata)

    def _end_oldest(self, user: Any, scope: Any) -> bool:
        oldest = _oldest(user, scope)
        if oldest is None:
            return False
        ended = session_service.invalidate_by_id(
            session_id=oldest.session_id, user_id=user.pk, reason=EndReason.SESSION_LIMIT, actor=f"user:{user.pk}"
        )
        return isinstance(ended, Ok) and ended.data > 0

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["session_limit_oldest"] = self.session_limit_oldest
        context.setdefault("base_template", self.base_template)
        return context


def _oldest(user: Any, scope: Any) -> SessionInfo | None:
    """The user's oldest live session within the refused limit's ``scope`` ("user", or
    "tag role:admin" for a per-tag limit: then the oldest carrying that tag)."""
    live = session_service.fetch_all_for_user(user_id=user.pk)
    infos = live.data if isinstance(live, Ok) else []
    if isinstance(scope, str) and scope.startswith("tag "):
        infos = [info for info in infos if scope[len("tag ") :] in info.tags]
    return min(infos, key=lambda info: info.created_at, default=None)
