"""Django's session and authentication middlewares, made to carry byo sessions.

Put them where Django's own go (``SESSION_ENGINE = "byo_sessions.backends.db"``)::

    "byo_sessions.middleware.SessionMiddleware",          # for django.contrib.sessions'
    ...
    "byo_sessions.middleware.AuthenticationMiddleware",   # for django.contrib.auth's

``SessionMiddleware`` builds the store with what validation needs from the request (IP
under the proxy settings, User-Agent, a ``DPoP`` proof), takes the token from the session
cookie or from ``Authorization: Bearer`` (API clients; such requests are exempt from CSRF,
since browsers never attach that header by themselves), validates once the view is known
(one SELECT on the steady path; views marked with ``decorators`` choose device rules),
answers a device challenge with 425, and writes back a rotated token: the cookie for
browsers, the ``REFRESHED_TOKEN_HEADER`` for Bearer clients. Everything else is
Django's own ``process_response``: data saved when modified, ``Vary: Cookie``,
``SessionInterrupted`` when the session ended during the request.

``AuthenticationMiddleware`` sets ``request.user`` from the user loaded with the session
(no second query), after the same session-hash check as ``django.contrib.auth.get_user``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.http import http_date

from . import django_sessions, http
from .backends.db import LoginRefused, SessionStore
from .conf import byo_settings
from .values import ErrorType

# The store of the request being served in this thread or task: what the password-change
# receiver keeps alive while it ends the user's other sessions.
current_store: ContextVar[SessionStore | None] = ContextVar("byo_sessions_current_store", default=None)

# Refusals (401 and 403 from any view or DRF class, 425 device challenges) are never cached.
NO_STORE_STATUSES = frozenset({401, 403, 425})
# Refusals that may be about the request's device proof (http.dpop_headers).
DPOP_STATUSES = frozenset({401, 425})


class SessionMiddleware(DjangoSessionMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        reset = current_store.set(None)
        try:
            return super().__call__(request)
        finally:
            current_store.reset(reset)

    async def __acall__(self, request: HttpRequest) -> Any:
        reset = current_store.set(None)
        try:
            return await super().__acall__(request)
        finally:
            current_store.reset(reset)

    def process_request(self, request: HttpRequest) -> None:
        request.byo_session = None  # type: ignore[attr-defined]
        request.byo_session_error = None  # type: ignore[attr-defined]
        if not issubclass(self.SessionStore, SessionStore):  # another engine: Django's behaviour
            return super().process_request(request)
        token = http.presented_token(request)
        if token is not None and token.transport == "bearer" and settings.SESSION_COOKIE_NAME not in request.COOKIES:
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        store = None
        conflicting = http.conflicting_cookie(request, token)  # the store refuses both (conflicting_tokens)
        if byo_settings.MIGRATE_DJANGO_SESSIONS and conflicting is None:  # a Django session cookie becomes ours
            store = django_sessions.upgrade(request, token, self.SessionStore)
        if store is None:
            store = self.SessionStore(
                token.value if token else None,
                request=request,
                transport=token.transport if token else "cookie",
                conflicting_token=conflicting,
            )
        request.session = store
        current_store.set(store)
        return None

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        store = getattr(request, "session", None)
        if not isinstance(store, SessionStore):
            return None
        if http.view_flag(view_func, "byo_session_exempt"):
            if store.transport == "bearer":
                store.forget_presented_token()  # its Authorization header is not a session token
            return None
        store.resolve(view_func)
        error = store.error
        if (
            error is not None
            and error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
            and http.can_answer_challenge(request)
        ):
            return http.error_response(error)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, LoginRefused):  # a policy refused a login made through auth.login()
            return http.error_response(exception.error)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = self._session_response(request, response)
        error = getattr(request, "byo_session_error", None)
        if error is not None and response.status_code in DPOP_STATUSES:
            # The RFC 9449 headers of a device refusal, where whoever answered left them out
            # (DRF's exception handler writes only WWW-Authenticate): a view's own win.
            for name, value in http.dpop_headers(error).items():
                if name not in response:
                    response[name] = value
        if (
            response.status_code in NO_STORE_STATUSES
            or settings.SESSION_COOKIE_NAME in response.cookies
            or byo_settings.REFRESHED_TOKEN_HEADER in response
        ):
            # A token, or a refusal about one, must not sit in a shared or browser cache.
            # Whoever answered: DRF's refusals of our authentication classes included.
            patch_cache_control(response, no_store=True)
        return response

    def _session_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        store = getattr(request, "session", None)
        if not isinstance(store, SessionStore):
            return super().process_response(request, response)
        if store.transport == "bearer":
            return self._bearer_response(store, response)
        if store.error is not None and not store.token_dead and store.is_empty():
            # A refused but still usable token (a 403 for this IP, a pending device challenge,
            # a database outage): Django would clear the cookie of an empty store; keep it.
            if store.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        if (store.key_changed or store.expiry_changed) and not store.modified and not store.is_empty():
            return self._set_new_key(store, response)  # rotated or extended: a new cookie, nothing to write
        if store.token_dead and (reason := http.ended_reason(store.error)) is not None and response.status_code < 500:
            http.set_signed_out_notice(response, reason)  # the login page can say why (byo_sessions.account)
        return super().process_response(request, response)

    def _set_new_key(self, store: SessionStore, response: HttpResponse) -> HttpResponse:
        """A rotated (or re-keyed) token with unchanged data: the cookie, no write."""
        patch_vary_headers(response, ("Cookie",))
        if response.status_code >= 500:
            return response
        if store.get_expire_at_browser_close():
            max_age, expires = None, None
        else:
            max_age = store.get_expiry_age()
            expires = http_date(time.time() + max_age)
        response.set_cookie(  # the attributes Django's SessionMiddleware gives its cookie
            settings.SESSION_COOKIE_NAME,
            store.session_key or "",
            max_age=max_age,
            expires=expires,
            domain=settings.SESSION_COOKIE_DOMAIN,
            path=settings.SESSION_COOKIE_PATH,
            secure=bool(settings.SESSION_COOKIE_SECURE),
            httponly=bool(settings.SESSION_COOKIE_HTTPONLY),
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
        return response

    def _bearer_response(self, store: SessionStore, response: HttpResponse) -> HttpResponse:
        """API clients keep the token themselves: no cookie, the new token in a header."""
        if store.accessed:
            patch_vary_headers(response, ("Authorization",))
        if response.status_code >= 500:
            return response
        if (store.modified or settings.SESSION_SAVE_EVERY_REQUEST) and not store.is_empty():
            try:
                store.save()
            except UpdateError:
                raise SessionInterrupted("The request's session was deleted before the request completed.") from None
        if store.key_changed and store.session_key is not None:
            response[byo_settings.REFRESHED_TOKEN_HEADER] = store.session_key
        return response


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """``request.user`` from the byo session (already loaded with its user)."""

    def process_request(self, request: HttpRequest) -> None:
        store = getattr(request, "session", None)
        if not isinstance(store, SessionStore):
            return super().process_request(request)
        request.user = SimpleLazyObject(lambda: store.user)  # type: ignore[assignment]
        request.auser = partial(_auser, store)  # type: ignore[attr-defined]
        return None


async def _auser(store: SessionStore) -> Any:
    return await sync_to_async(lambda: store.user)()
