"""View decorators: ``login_required`` (redirect for pages, JSON 401 for API calls) and
the device opt-out ``ignore_device_for_verification``. Sync and async views both work."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from . import http
from .backends.db import SessionStore
from .values import ErrorType, SessionError

View = Callable[..., Any]
_NO_SESSION = SessionError(ErrorType.INVALID_SESSION_TOKEN, {"message": "Authentication required.",
                                                             "reason": "no_session"})


def _refusal(request: HttpRequest, login_url: str | None) -> HttpResponse:
    store = getattr(request, "session", None)
    error = (store.error if isinstance(store, SessionStore) else None) or _NO_SESSION
    if http.wants_json(request) or (error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
                                    and http.can_answer_challenge(request)):
        response: HttpResponse = http.error_response(error)
        if response.status_code == 401:  # unless error_response set a DPoP challenge
            response.setdefault("WWW-Authenticate", http.BEARER_CHALLENGE)
        return response
    return redirect_to_login(request.get_full_path(), login_url or settings.LOGIN_URL)


def _logged_in(request: HttpRequest, view: View) -> bool:
    """A live session of a Django user (validated under the view's device rules)."""
    store = getattr(request, "session", None)
    if not isinstance(store, SessionStore):
        return bool(getattr(request, "user", None) and request.user.is_authenticated)
    store.resolve(view)
    return store.byo_session is not None and store.user.is_authenticated


def login_required(view: View | None = None, *, login_url: str | None = None) -> Any:
    """Let the view run only for a request with a valid session of a logged-in user."""

    def decorate(func: View) -> View:
        if iscoroutinefunction(func):
            @wraps(func)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if not await sync_to_async(_logged_in)(request, func):
                    return _refusal(request, login_url)
                return await func(request, *args, **kwargs)

            return async_wrapper

        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not _logged_in(request, func):
                return _refusal(request, login_url)
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def ignore_device_for_verification(view: View) -> View:
    """Mark a view whose requests need no device proof (e.g. the challenge endpoint)."""
    view.byo_ignore_device = True  # type: ignore[attr-defined]
    return view


def session_exempt(view: View) -> View:
    """A view the middleware leaves alone: its Authorization header is not a session
    token (e.g. the session server's integration key), so nothing is validated."""
    view.byo_session_exempt = True  # type: ignore[attr-defined]
    return view


def device_verification_required(view: View) -> View:
    """Demand a fresh device proof (``DPoP`` header) on every request to this view."""
    view.byo_device_required = True  # type: ignore[attr-defined]
    return view


__all__ = ["login_required", "ignore_device_for_verification", "device_verification_required", "session_exempt"]
