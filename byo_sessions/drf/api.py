"""The self-service REST API: my sessions and my devices, for single-page and mobile apps.

Mount it with ``path("api/byo/", include("byo_sessions.drf.urls"))``. What the example
site's pages do, over the same services (``services/sessions``, ``services/devices``):
the views only turn the request into an owner and a current session, and results into
JSON. Every route needs a byo session (cookie with CSRF, or ``Authorization: Bearer``);
someone else's session or device id answers 404 like an unknown one.

Ending my other sessions and revoking a device are sensitive actions: they need a recent
authentication (``RecentlyAuthenticated``, docs/reauthentication.md). A project that wants
more (a device proof to revoke, a tag to list) subclasses a view and sets
``permission_classes``, e.g. ``[IsAuthenticated, RecentlyAuthenticated, DeviceVerified]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import http
from ..models import EndReason
from ..services import devices
from ..services import sessions as session_service
from ..values import Err, ValidatedSession
from .authentication import SessionRefused, SessionTokenAuthentication
from .permissions import RecentlyAuthenticated
from .serializers import DetailSerializer, DeviceSerializer, EndedSerializer, ErrorSerializer, SessionSerializer

F = TypeVar("F", bound=Callable[..., Any])

try:  # registers how drf-spectacular describes SessionTokenAuthentication
    from . import schema  # noqa: F401
except ImportError:  # pragma: no cover - drf-spectacular (the "api" extra) is not installed
    pass


def extend_schema(**kwargs: Any) -> Callable[[F], F]:
    """drf-spectacular's ``extend_schema`` when it is installed (the ``api`` extra), else a
    no-op: the views work without it, only the OpenAPI schema needs it."""
    try:
        from drf_spectacular.utils import extend_schema as describe
    except ImportError:  # pragma: no cover - exercised only without the extra
        return lambda view: view
    return describe(**kwargs)


_REFUSED = {401: ErrorSerializer, 403: DetailSerializer, 425: ErrorSerializer}


def _current(request: Request) -> ValidatedSession:
    return cast(ValidatedSession, request.auth)  # SessionTokenAuthentication's answer


def _actor(session: ValidatedSession) -> str:
    return f"user:{session.user_id}"


def _error(result: Err) -> Response:
    return Response(http.error_body(result.error), status=http.status_for(result.error))


class SelfServiceView(APIView):
    """What every self-service route shares: a byo session, JSON out."""

    authentication_classes = [SessionTokenAuthentication]
    permission_classes: list[Any] = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> NoReturn:
        """No session at all: the typed 401 the rest of byo_sessions answers, not DRF's text."""
        if request.authenticators and not request.successful_authenticator:
            raise SessionRefused(http.NO_SESSION)
        super().permission_denied(request, message=message, code=code)


class SessionListView(SelfServiceView):
    """The owner's live sessions (not ended, not expired under the current policy), the
    current one first, then newest first."""

    @extend_schema(
        operation_id="sessions_list",
        responses={200: SessionSerializer(many=True), **_REFUSED},
        summary="My live sessions, the current one first",
    )
    def get(self, request: Request) -> Response:
        current = _current(request)
        result = session_service.fetch_all_for_user(user_id=current.user_id)
        if isinstance(result, Err):
            return _error(result)
        listed = sorted(result.data, key=lambda info: info.session_id != current.session_id)  # stable
        data = SessionSerializer(listed, many=True, context={"current_session_id": current.session_id}).data
        return Response(data, headers={"Cache-Control": "no-store"})


class SessionDetailView(SelfServiceView):
    """End one of the owner's sessions (reason ``user``); any other id answers 404."""

    @extend_schema(
        operation_id="sessions_end",
        responses={204: None, 404: ErrorSerializer, **_REFUSED},
        summary="End one of my sessions (the current one logs this client out)",
    )
    def delete(self, request: Request, session_id: str) -> Response:
        current = _current(request)
        result = session_service.invalidate_by_id(
            session_id=session_id, user_id=current.user_id, reason=EndReason.USER, actor=_actor(current)
        )
        if isinstance(result, Err):
            return _error(result)
        return Response(status=204)


class EndOtherSessionsView(SelfServiceView):
    """ "Log out my other devices": every session of the owner but the one asking. A
    sensitive action: it needs a recent authentication (``REAUTH_MAX_AGE_SECS``)."""

    permission_classes = [IsAuthenticated, RecentlyAuthenticated]

    @extend_schema(
        operation_id="sessions_end_others",
        request=None,
        responses={200: EndedSerializer, **_REFUSED},
        summary="End all my sessions but this one",
    )
    def post(self, request: Request) -> Response:
        current = _current(request)
        result = session_service.invalidate_all_for_user_except_one(
            user_id=current.user_id, session_id_to_keep=current.session_id, reason=EndReason.USER, actor=_actor(current)
        )
        if isinstance(result, Err):
            return _error(result)
        return Response({"ended": result.data})


class DeviceListView(SelfServiceView):
    """The owner's devices (keys bound at login), last seen first."""

    @extend_schema(
        operation_id="devices_list",
        responses={200: DeviceSerializer(many=True), **_REFUSED},
        summary="My devices (browsers whose key was bound at login)",
    )
    def get(self, request: Request) -> Response:
        current = _current(request)
        result = devices.devices_of(user_id=current.user_id)
        if isinstance(result, Err):
            return _error(result)
        data = DeviceSerializer(result.data, many=True, context={"current_device_id": current.device_id}).data
        return Response(data, headers={"Cache-Control": "no-store"})


class DeviceDetailView(SelfServiceView):
    """Revoke one of the owner's devices: its sessions end and the device is forgotten, so
    that key's next login counts as a new device. Any other id answers 404. A sensitive
    action: it needs a recent authentication (``REAUTH_MAX_AGE_SECS``)."""

    permission_classes = [IsAuthenticated, RecentlyAuthenticated]

    @extend_schema(
        operation_id="devices_revoke",
        responses={200: EndedSerializer, 404: ErrorSerializer, **_REFUSED},
        summary="Revoke one of my devices: end its sessions and forget it",
    )
    def delete(self, request: Request, device_id: str) -> Response:
        current = _current(request)
        result = devices.revoke(device_id=device_id, user_id=current.user_id, actor=_actor(current))
        if isinstance(result, Err):
            return _error(result)
        return Response({"ended": result.data})
