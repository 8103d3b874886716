"""View decorators: ``login_required`` (redirect for pages, JSON 401 for API calls),
``reauth_required`` for sensitive actions, and the view markers the middleware reads
(device proof required or ignored, session exempt). Sync and async views both work."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from . import http
from .backends.db import SessionStore
from .conf import byo_settings
from .services import reauthentication
from .values import Err, ErrorType, SessionError

View = Callable[..., Any]


def _refusal(request: HttpRequest, login_url: str | None) -> HttpResponse:
    store = getattr(request, "session", None)
    error = (store.error if isinstance(store, SessionStore) else None) or http.NO_SESSION
    if http.wants_json(request) or (
        error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED and http.can_answer_challenge(request)
    ):
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


Refusal = Callable[[HttpRequest, View], "HttpResponse | None"]


def _guarded(view: View | None, refusal: Refusal) -> Any:
    """Wrap a sync or async view so that it runs only when ``refusal`` (a sync check, run
    in a thread for async views: it may query) answers None; else its answer is returned."""

    def decorate(func: View) -> View:
        if iscoroutinefunction(func):

            @wraps(func)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refused = await sync_to_async(refusal)(request, func)
                return refused if refused is not None else await func(request, *args, **kwargs)

            return async_wrapper

        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = refusal(request, func)
            return refused if refused is not None else func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def login_required(view: View | None = None, *, login_url: str | None = None) -> Any:
    """Let the view run only for a request with a valid session of a logged-in user."""

    def refusal(request: HttpRequest, func: View) -> HttpResponse | None:
        return None if _logged_in(request, func) else _refusal(request, login_url)

    return _guarded(view, refusal)


def _stale_authentication(
    request: HttpRequest, max_age: int | None, factors: Iterable[str] | None
) -> SessionError | None:
    """Why the (live, validated) session's authentication is not recent enough, if it is not."""
    store = getattr(request, "session", None)
    if not isinstance(store, SessionStore) or store.byo_session is None:
        raise ImproperlyConfigured(
            "reauth_required needs byo_sessions' session engine and middleware "
            "(SESSION_ENGINE = 'byo_sessions.backends.db')."
        )
    result = reauthentication.require_recent(
        session_id=store.byo_session.session_id, max_age_secs=max_age, factors=factors
    )
    return result.error if isinstance(result, Err) else None


def _to_reauthentication(request: HttpRequest, error: SessionError, reauth_url: str | None) -> HttpResponse:
    if http.wants_json(request):
        return http.error_response(error)
    return redirect_to_login(http.return_path(request), resolve_url(reauth_url or byo_settings.REAUTH_URL))


def reauth_required(
    view: View | None = None,
    *,
    max_age: int | None = None,
    factors: Iterable[str] | None = None,
    reauth_url: str | None = None,
    login_url: str | None = None,
) -> Any:
    """Let a sensitive view run only when the session's user proved who they are at most
    ``max_age`` seconds ago (default ``REAUTH_MAX_AGE_SECS``), by one of ``factors`` if
    given (ASVS 3.7.1). Includes ``login_required``. A page request goes to the
    re-authentication page (``REAUTH_URL``) and comes back; an API call gets a typed 401
    ``ReauthenticationRequired`` with RFC 9470's step-up ``WWW-Authenticate``."""
    accepted = tuple(factors) if factors is not None else None

    def refusal(request: HttpRequest, func: View) -> HttpResponse | None:
        if not _logged_in(request, func):
            return _refusal(request, login_url)
        stale = _stale_authentication(request, max_age, accepted)
        return None if stale is None else _to_reauthentication(request, stale, reauth_url)

    return _guarded(view, refusal)


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


__all__ = [
    "login_required",
    "reauth_required",
    "ignore_device_for_verification",
    "device_verification_required",
    "session_exempt",
]
