"""``SessionMiddleware``: authenticate each request from the byo session token.

Use it *instead of* Django's ``SessionMiddleware`` + ``AuthenticationMiddleware``.

* Request phase: nothing is queried. ``request.user`` becomes a lazy object and
  ``request.auser()`` its async twin; Bearer requests without a session cookie are exempt
  from CSRF (a browser never attaches that header by itself).
* ``process_view``: once the view is known, the token is validated (one SELECT on the
  steady path, rotation when due) and ``request.byo_session`` /
  ``request.byo_session_error`` are set. Views marked with
  ``decorators.ignore_device_for_verification`` skip device rules. A
  ``NewDeviceChallengeRequired`` answer becomes HTTP 425 with a fresh challenge.
* Response phase: a rotated or newly issued token rewrites the cookie (or, for Bearer
  clients, the ``REFRESHED_TOKEN_HEADER``); a dead token clears the cookie.
"""
from __future__ import annotations

from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject

from . import http
from .conf import byo_settings
from .request_state import RequestState, state_for


class SessionMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        state = self._begin(request)
        response = self.get_response(request)
        return self._finish(request, state, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        state = self._begin(request)
        response = await self.get_response(request)
        return self._finish(request, state, response)

    def _begin(self, request: HttpRequest) -> RequestState:
        state = state_for(request)
        if state.token is not None and state.token.transport == "bearer" \
                and byo_settings.cookie_name not in request.COOKIES:
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        request.user = SimpleLazyObject(state.user)  # type: ignore[assignment]
        request.auser = state.auser  # type: ignore[attr-defined]
        request.byo_session = None  # type: ignore[attr-defined]
        request.byo_session_error = None  # type: ignore[attr-defined]
        return state

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any,
                     view_kwargs: Any) -> HttpResponse | None:
        state = state_for(request)
        state.resolve(view_func=view_func)
        if state.error is not None and state.error.type == http.ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED \
                and http.can_answer_challenge(request):
            return http.error_response(state.error)
        return None

    def _finish(self, request: HttpRequest, state: RequestState, response: HttpResponse) -> HttpResponse:
        if not state.resolved and state.pending_token is None and not state.clear_cookie:
            return response
        if state.token is not None or state.pending_token is not None:
            patch_vary_headers(response, ("Cookie",) if state.uses_cookie else ("Authorization",))
        if state.pending_token is not None and state.pending_expires_at is not None:
            if state.uses_cookie:
                http.set_session_cookie(response, state.pending_token, state.pending_expires_at)
            else:
                response[byo_settings.REFRESHED_TOKEN_HEADER] = state.pending_token
        elif state.clear_cookie and byo_settings.cookie_name in request.COOKIES:
            http.clear_session_cookie(response)
        return response

