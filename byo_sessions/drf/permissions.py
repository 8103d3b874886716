"""DRF permissions over the request's byo session.

* ``RecentlyAuthenticated`` (ASVS 3.7.1): the DRF form of ``reauth_required``: it needs
  ``SessionTokenAuthentication`` (the session is ``request.auth``) and refuses a stale
  authentication with a typed 401 ``ReauthenticationRequired`` and RFC 9470's step-up
  ``WWW-Authenticate``.
* ``HasSessionTag("role:admin")`` passes when the session carries every named tag (tags are
  set at login by the adapter, so they say how *this* session was opened, not only who the
  user is).
* ``DeviceVerified`` passes when the request carried a valid proof from the session's
  device, for views that want one only for some methods or alongside other permissions; a
  view that always wants one sets ``byo_device_required = True`` instead, which the
  middleware enforces before the view runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .. import http
from ..backends.db import SessionStore
from ..services import reauthentication
from ..values import Err, ErrorType, SessionError, ValidatedSession


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
        return type(
            f"{cls.__name__}Within{max_age}",
            (cls,),
            {"max_age": max_age, "factors": tuple(factors) if factors is not None else None},
        )

    def has_permission(self, request: Request, view: Any) -> bool:
        session = request.auth
        if not isinstance(session, ValidatedSession):
            return False  # not a byo session: DRF answers 401/403 as for any refused permission
        result = reauthentication.require_recent(
            session_id=session.session_id, max_age_secs=self.max_age, factors=self.factors
        )
        if isinstance(result, Err):
            raise ReauthenticationRequired(result.error)
        return True


class _Refused(exceptions.APIException):
    """A permission refusal with our typed body and status (not DRF's generic 403)."""

    def __init__(self, error: SessionError) -> None:
        super().__init__(detail=http.error_body(error))
        self.status_code = http.status_for(error)


def _session(request: Request) -> ValidatedSession | None:
    auth = request.auth
    if isinstance(auth, ValidatedSession):
        return auth
    validated = getattr(request._request, "byo_session", None)
    return validated if isinstance(validated, ValidatedSession) else None


class HasSessionTag(BasePermission):
    """``permission_classes = [HasSessionTag("role:admin")]``: the session carries every tag.

    An instance stands in for a class in ``permission_classes`` (DRF calls it; it answers
    itself), so the tags can be named where the view is declared.
    """

    def __init__(self, *tags: str) -> None:
        if not tags or not all(isinstance(tag, str) and tag for tag in tags):
            raise TypeError("HasSessionTag needs at least one tag, e.g. HasSessionTag('role:admin').")
        self.tags = frozenset(tags)

    def __call__(self) -> HasSessionTag:
        return self

    def has_permission(self, request: Request, view: Any) -> bool:
        session = _session(request)
        if session is None:
            return False  # DRF answers 401/403 as for any unauthenticated request
        missing = sorted(self.tags - set(session.tags))
        if missing:
            raise _Refused(
                SessionError(
                    ErrorType.MISSING_REQUIRED_TAGS,
                    {"message": "This session lacks a required tag.", "reason": "missing_tags", "missing": missing},
                )
            )
        return True


class DeviceVerified(BasePermission):
    """The request carried a valid proof (``DPoP`` header) from the session's device.

    The proof itself was checked by the middleware's validation (signature, challenge,
    single use); this only asks whether that happened. Without one: 401
    ``DeviceVerificationRequired``, which ``device.js`` answers by signing the retry.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        store = getattr(request._request, "session", None)
        if not isinstance(store, SessionStore) or store.byo_session is None:
            return False
        if store.device_verified:
            return True
        why = "missing_proof" if store.byo_session.has_device_registered else "no_device_registered"
        raise _Refused(
            SessionError(
                ErrorType.DEVICE_VERIFICATION_REQUIRED,
                {"message": "This request needs a proof from the session's device.", "reason": why},
            )
        )


__all__ = ["RecentlyAuthenticated", "ReauthenticationRequired", "HasSessionTag", "DeviceVerified"]
