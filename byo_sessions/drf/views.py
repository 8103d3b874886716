"""DRF views: the device-challenge endpoint and the re-authentication API (password or a
device proof) that ``reauth_required`` sends API clients to."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import http
from ..services import devices, reauthentication
from ..values import Authentication, Err, ErrorType, Ok, ValidatedSession, err
from .authentication import SessionTokenAuthentication


class DeviceChallengeView(APIView):
    """GET -> ``{"deviceChallenge": ..., "expiresAt": <unix seconds>}`` for this IP and User-Agent."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]  # JSON whatever the Accept header; needs no DRF templates
    byo_ignore_device = True

    def get(self, request: Request) -> Response:
        client = http.client_info(request._request)
        result = devices.create_challenge(ip_address=client.ip_address, user_agent=client.user_agent)
        if isinstance(result, Err):
            return Response(http.error_body(result.error), status=http.status_for(result.error))
        return Response(result.data.as_json(), headers={"Cache-Control": "no-store"})


def _session(request: Request) -> ValidatedSession:
    session = request.auth
    if not isinstance(session, ValidatedSession):  # SessionTokenAuthentication + IsAuthenticated should hold
        raise exceptions.NotAuthenticated()
    return session


class _ReauthenticateBase(APIView):
    authentication_classes = [SessionTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @staticmethod
    def answer(request: Request, result: Ok[Authentication] | Err) -> Response:
        """The new state; the session goes on under a new token (ASVS 5.0 7.2.4), which the
        middleware sends back as the cookie or the refreshed-token header."""
        if isinstance(result, Err):
            return Response(
                http.error_body(result.error),
                status=http.status_for(result.error),
                headers={"Cache-Control": "no-store"},
            )
        request._request.session.cycle_key()
        return Response(
            {
                "authenticatedAt": result.data.authenticated_at.isoformat() if result.data.authenticated_at else None,
                "factors": sorted(result.data.factors),
            },
            headers={"Cache-Control": "no-store"},
        )


class ReauthenticateView(_ReauthenticateBase):
    """POST ``{"password": "..."}`` -> ``{"authenticatedAt", "factors"}``, or
    ``ReauthenticationFailed`` (403, with ``attempts_left``); the last wrong answer ends the
    session (401 ``SessionInvalidated``)."""

    def post(self, request: Request) -> Response:
        password = request.data.get("password") if isinstance(request.data, dict) else None
        if not isinstance(password, str) or not password:
            return self.answer(
                request, err(ErrorType.INVALID_PARAMETERS, "Send the password as a string.", reason="missing_password")
            )
        client = http.client_info(request._request)
        return self.answer(
            request,
            reauthentication.reauthenticate_with_password(
                session_id=_session(request).session_id,
                user=request.user,
                password=password,
                ip_address=client.ip_address,
                user_agent=client.user_agent or "",
            ),
        )


class DeviceReauthenticateView(_ReauthenticateBase):
    """POST with a fresh ``DPoP`` proof from the session's device (``fetchWithDevice``):
    the middleware verifies it (a stale or missing one gets the 425 challenge first), so
    reaching this view is the proof; a session bound to no device is refused (401)."""

    byo_device_required = True  # read by byo_sessions' middleware from the view class

    def post(self, request: Request) -> Response:
        client = http.client_info(request._request)
        return self.answer(
            request,
            reauthentication.mark_reauthenticated(
                session_id=_session(request).session_id,
                factor=reauthentication.DEVICE_PROOF,
                actor=f"user:{request.user.pk}",
                ip_address=client.ip_address,
                user_agent=client.user_agent or "",
                user_id=request.user.pk,
            ),
        )
