"""Django REST framework authentication by stateless token (``Authorization: Bearer <jwt>``).

It only claims headers that look like a JWT (three dot-separated parts), so it can sit
beside ``SessionTokenAuthentication`` (``byo_s_`` tokens); list it *first*, because
``SessionTokenAuthentication`` refuses any Bearer value that is not a session token.
Verification needs no query once this process holds the public keys, and the user is
not loaded either: ``request.user`` is a ``StatelessTokenUser`` built from the claims
and ``request.auth`` is the claims dict.

``check_revocation`` (None: ``STATELESS_REVOCATION_CHECK``) also refuses tokens whose
session has ended, at one cache read per request; a subclass sets it for its views.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .. import http
from ..services.stateless import verify_stateless_token
from ..values import Err, ErrorType, SessionError


class StatelessTokenUser:
    """Who the token names, without a database read. ``pk``/``id`` is the ``sub`` claim
    (a Django user's primary key as a string, or a session server caller's user id)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims
        self.pk = self.id = self.username = str(claims["sub"])
        self.session_id: str | None = claims.get("sid")

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class StatelessTokenRefused(exceptions.AuthenticationFailed):
    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))


class StatelessTokenUnverifiable(exceptions.APIException):
    """The token could not be checked at all (no recent signing keys: the database is
    down; or the revocation cache cannot be read): our fault, not the caller's, so 503 with the typed body rather than a 401
    that tells a client its token is bad."""

    status_code = 503

    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))


def looks_like_jwt(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 3 and all(parts[:2])


class StatelessTokenAuthentication(BaseAuthentication):
    check_revocation: bool | None = None

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        value = http.bearer_value(request._request)
        if value is None or not looks_like_jwt(value):
            return None
        result = verify_stateless_token(value, check_revocation=self.check_revocation)
        if isinstance(result, Err):
            if result.error.type == ErrorType.UNEXPECTED_ERROR:
                raise StatelessTokenUnverifiable(result.error)
            raise StatelessTokenRefused(result.error)
        return StatelessTokenUser(result.data), result.data

    def authenticate_header(self, request: Request) -> str:
        return http.bearer_challenge(request._request)
