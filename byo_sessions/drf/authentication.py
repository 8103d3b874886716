"""Django REST framework authentication backed by byo sessions.

``SessionTokenAuthentication`` accepts the session cookie (with DRF's CSRF check, as
``SessionAuthentication`` does) and ``Authorization: Bearer`` (no CSRF: browsers never
attach that header on their own). It reuses the middleware's validation for the
request, so a DRF view costs no second query; without the middleware it validates by
itself (then a rotated token cannot be written back: install the middleware).
"""

from __future__ import annotations

from typing import Any

from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .. import http
from ..backends.db import SessionStore
from ..values import ErrorType, SessionError


class DeviceChallengeRequired(exceptions.APIException):
    """HTTP 425 with a fresh challenge; ``device.js`` signs it and retries."""

    status_code = 425
    default_code = "NewDeviceChallengeRequired"

    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))


class SessionRefused(exceptions.AuthenticationFailed):
    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))
        self.status_code = http.status_for(error)


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request: Any, reason: str) -> str:
        return reason


class SessionTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        django_request = request._request
        store = getattr(django_request, "session", None)
        if not isinstance(store, SessionStore) or store.session_key is None and store.error is None:
            return None  # no byo token on this request
        view = request.parser_context.get("view") if request.parser_context else None
        store.resolve(view)
        session = store.byo_session
        if session is None:
            if store.error is None:
                return None  # a visitor's data-only session: not authenticated
            error = store.error
            if error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED:
                raise DeviceChallengeRequired(error)
            raise SessionRefused(error)
        user: Any = None  # a session-server caller's session has no Django user
        if session.user is not None:
            user = store.user
            if not user.is_authenticated:  # the session auth hash failed
                raise SessionRefused(
                    SessionError(
                        ErrorType.SESSION_INVALIDATED,
                        {"message": "The session has ended.", "reason": "password_changed"},
                    )
                )
        if store.transport == "cookie":
            self._enforce_csrf(django_request)
        return (user, session)

    def authenticate_header(self, request: Request) -> str:
        return http.bearer_challenge(request._request)

    def _enforce_csrf(self, request: Any) -> None:
        check = _CSRFCheck(lambda req: None)  # type: ignore[arg-type]  # as DRF's SessionAuthentication
        check.process_request(request)
        reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")
