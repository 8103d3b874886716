"""The protected view every stack in ``bench_requests.py`` serves (``benchmarks/stacks.py``).

One body: the username of ``request.user`` (which makes each auth scheme load its user),
``-`` without auth. Session stacks reach it as a plain Django view; the token schemes,
which only DRF authenticates, as an ``APIView`` with that scheme as its one class.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from knox.auth import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from byo_sessions.drf.jwt_authentication import StatelessTokenAuthentication


def whoami(request: HttpRequest) -> HttpResponse:
    user = getattr(request, "user", None)  # the no-auth stack has no request.user
    return HttpResponse(user.get_username() if user is not None else "-", content_type="text/plain")


class KnoxWhoami(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: HttpRequest) -> HttpResponse:
        return whoami(request)


class JwtWhoami(APIView):
    authentication_classes = [StatelessTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: HttpRequest) -> HttpResponse:
        return whoami(request)


urlpatterns = [
    path("whoami/", whoami),
    path("api/knox/whoami/", KnoxWhoami.as_view()),
    path("api/jwt/whoami/", JwtWhoami.as_view()),
    path("byo/", include("byo_sessions.urls")),  # as the README sets it up (the re-auth page, JWKS)
]
