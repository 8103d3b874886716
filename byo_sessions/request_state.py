"""Per-request authentication state shared by the middleware, ``login``/``logout`` and
the decorators. Validation runs at most once per request, on first need."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from . import http
from .results import Err, ErrorType, SessionError
from .values import ValidatedSession

_ATTR = "_byo_state"
logger = logging.getLogger("byo_sessions")


class RequestState:
    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.token = http.presented_token(request)
        self.resolved = False
        self.session: ValidatedSession | None = None
        self.error: SessionError | None = None
        self._user: Any = AnonymousUser()
        self.pending_token: str | None = None
        self.pending_expires_at: datetime | None = None
        self.clear_cookie = False

    @property
    def uses_cookie(self) -> bool:
        return self.token is None or self.token.transport == "cookie"

    def resolve(self, view_func: Callable[..., Any] | None = None) -> None:
        if self.resolved:
            return
        self.resolved = True
        if self.token is None or _view_flag(view_func, "byo_session_exempt"):
            return
        from .services import sessions

        request = self.request
        try:
            result = sessions.validate_and_refresh(
                session_token=self.token.value,
                ip_address=http.request_ip(request),
                user_agent=http.request_user_agent(request),
                device_verification=http.device_proof(request, self.token),
                ignore_device_for_verification=_view_flag(view_func, "byo_ignore_device"),
                device_verification_required=_view_flag(view_func, "byo_device_required"),
            )
        except DatabaseError:
            # The session store is unreachable: say so (503), and keep the cookie.
            logger.exception("byo_sessions: could not validate the session")
            self.fail(SessionError(ErrorType.UNEXPECTED_ERROR, {"message": "The session store is unavailable.",
                                                                 "reason": "database_error"}))
            return
        if isinstance(result, Err):
            self.fail(result.error)
            return
        self.accept(result.data)
        if result.data.new_session_token:
            self.pending_token = result.data.new_session_token
            self.pending_expires_at = result.data.absolute_expires_at

    def accept(self, session: ValidatedSession) -> None:
        self.session, self.error = session, None
        self._user = session.user if session.user is not None else AnonymousUser()
        self.request.byo_session = session  # type: ignore[attr-defined]
        self.request.byo_session_error = None  # type: ignore[attr-defined]

    def fail(self, error: SessionError) -> None:
        self.session, self.error = None, error
        self._user = AnonymousUser()
        self.request.byo_session = None  # type: ignore[attr-defined]
        self.request.byo_session_error = error  # type: ignore[attr-defined]
        if (error.type in http.TERMINAL_ERRORS or error.details.get("session_ended")) and self.uses_cookie:
            self.clear_cookie = True

    def user(self) -> Any:
        self.resolve()
        return self._user

    async def auser(self) -> Any:
        if not self.resolved:
            await sync_to_async(self.resolve)()
        return self._user

    @sensitive_variables()  # raw tokens in locals: keep them out of error reports
    def logged_in(self, session: ValidatedSession, token: str) -> None:
        """``login()`` issued a new token: it is what the response must carry."""
        self.resolved = True
        self.accept(session)
        self.pending_token, self.pending_expires_at = token, session.absolute_expires_at
        self.clear_cookie = False

    def logged_out(self) -> None:
        self.resolved = True
        self.session, self.error = None, None
        self._user = AnonymousUser()
        self.request.byo_session = None  # type: ignore[attr-defined]
        self.pending_token = self.pending_expires_at = None
        self.clear_cookie = True


def _view_flag(view: Any, name: str) -> bool:
    """A marker set by a decorator on a function view, or a class attribute of a CBV/DRF view."""
    if view is None:
        return False
    return bool(getattr(view, name, False) or getattr(getattr(view, "view_class", None), name, False)
                or getattr(getattr(view, "cls", None), name, False))


def state_for(request: HttpRequest) -> RequestState:
    state = getattr(request, _ATTR, None)
    if state is None:
        state = RequestState(request)
        setattr(request, _ATTR, state)
    return state
