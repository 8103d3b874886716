"""DRF views: the device-challenge endpoint."""
from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import http
from ..values import Err
from ..services import devices


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
