"""DRF permission for sensitive actions: ``RecentlyAuthenticated`` (ASVS 3.7.1).

The DRF form of ``reauth_required``: it needs ``SessionTokenAuthentication`` (the
session is ``request.auth``) and refuses a stale authentication with a typed 401
``ReauthenticationRequired`` and RFC 9470's step-up ``WWW-Authenticate``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .. import http
from ..services import reauthentication
from ..values import Err, SessionError, ValidatedSession


class ReauthenticationRequired(exceptions.APIException):
    status_code = 401
    default_code = "ReauthenticationRequired"

    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))
        self.auth_header = http.step_up_challenge(error)  # DRF's handler writes it as WWW-Authenticate


class RecentlyAuthenticated(BasePermission):
    """Allow a request whose session's user authenticated at most ``max_age`` seconds ago
    (``None``: ``REAUTH_MAX_AGE_SECS``), by one of ``factors`` if set. Use it as is, or
    ``RecentlyAuthenticated.within(60, factors=["password"])`` for a stricter view."""

    max_age: int | None = None
    factors: tuple[str, ...] | None = None

    @classmethod
    def within(cls, max_age: int, *, factors: Iterable[str] | None = None) -> type[RecentlyAuthenticated]:
        return type(f"{cls.__name__}Within{max_age}", (cls,),
                    {"max_age": max_age, "factors": tuple(factors) if factors is not None else None})

    def has_permission(self, request: Request, view: Any) -> bool:
        session = request.auth
        if not isinstance(session, ValidatedSession):
            return False  # not a byo session: DRF answers 401/403 as for any refused permission
        result = reauthentication.require_recent(session_id=session.session_id, max_age_secs=self.max_age,
                                                 factors=self.factors)
        if isinstance(result, Err):
            raise ReauthenticationRequired(result.error)
        return True


__all__ = ["RecentlyAuthenticated", "ReauthenticationRequired"]
