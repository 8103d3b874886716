"""``StatelessTokenAuthentication`` (drf/jwt_authentication.py): a DRF view that takes
stateless tokens beside session tokens, and what each request costs."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from byo_sessions import sessions
from byo_sessions.drf.authentication import SessionTokenAuthentication
from byo_sessions.drf.jwt_authentication import StatelessTokenAuthentication
from byo_sessions.services import signing_keys
from tests import urls as base_urls

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.drf.test_jwt_authentication")]


class JwtMe(APIView):
    """Session tokens first, to show the order does not matter (each side ignores the other's tokens)."""

    authentication_classes = [SessionTokenAuthentication, StatelessTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        if isinstance(request.auth, dict):
            return Response({"user": request.user.pk, "sid": request.auth.get("sid"), "kind": "jwt"})
        return Response({"user": request.user.get_username(), "sid": request.auth.session_id, "kind": "session"})

    def post(self, request):
        return Response({"posted": True})


class JwtFirstMe(JwtMe):
    authentication_classes = [StatelessTokenAuthentication, SessionTokenAuthentication]


urlpatterns = [
    path("drf/jwt-me/", JwtMe.as_view()),
    path("drf/jwt-first-me/", JwtFirstMe.as_view()),
    *base_urls.urlpatterns,
]


def test_drf_stateless_authentication(user, django_assert_num_queries):
    session = sessions.create(user_id=user.pk).data
    token = sessions.create_stateless_token(session_id=session.session_id).data.stateless_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    api.get("/drf/jwt-me/")  # warms the key cache
    with django_assert_num_queries(0):  # middleware: no query; auth class: none with the keys cached
        body = api.get("/drf/jwt-me/").json()
    assert body == {"user": str(user.pk), "sid": session.session_id, "kind": "jwt"}
    signing_keys.forget_cached()
    with django_assert_num_queries(1):  # cold: one read of the keys
        assert api.get("/drf/jwt-me/").status_code == 200
    assert api.post("/drf/jwt-me/").status_code == 200  # Bearer: no CSRF


def test_drf_both_classes_side_by_side(user):
    session = sessions.create(user_id=user.pk).data
    body = Client(HTTP_AUTHORIZATION=f"Bearer {session.session_token}").get("/drf/jwt-me/").json()
    assert body == {"user": "alice", "sid": session.session_id, "kind": "session"}
    refused = Client(HTTP_AUTHORIZATION="Bearer a.b.c").get("/drf/jwt-me/")
    assert refused.status_code == 401 and refused.json()["type"] == "InvalidStatelessToken"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    expired = sessions.create_stateless_token(user_id=user.pk, lifetime_secs=1).data.stateless_token
    from byo_sessions.core import clock as byo_clock

    byo_clock.advance(2)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {expired}").get("/drf/jwt-me/")
    assert response.status_code == 401 and response.json()["details"]["reason"] == "expired"


def test_drf_stateless_authentication_during_a_database_outage(settings, clock, monkeypatch):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_KEY_MAX_STALENESS_SECS": 60}
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/drf/jwt-me/").status_code == 200

    def down(now):
        raise OperationalError("connection refused")

    monkeypatch.setattr(signing_keys, "_unexpired_rows", down)
    clock.advance(30)  # the refresh fails; the last good set is 30 s old
    assert api.get("/drf/jwt-me/").json() == {"user": "u", "sid": None, "kind": "jwt"}
    clock.advance(31)  # 61 s: beyond the bound
    response = api.get("/drf/jwt-me/")
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["type"] == "UnexpectedError" and body["details"]["reason"] == "key_store_unavailable"
    assert "WWW-Authenticate" not in response  # the token is not at fault
    monkeypatch.undo()
    clock.advance(5)
    assert api.get("/drf/jwt-me/").status_code == 200


@pytest.mark.parametrize("url", ["/drf/jwt-me/", "/drf/jwt-first-me/"])  # both orders of the classes
def test_refusals_say_which_bearer_failed_whatever_the_class_order(user, clock, url):
    """DRF takes WWW-Authenticate from the first listed class: both answer the same."""
    session = sessions.create(user_id=user.pk).data
    expired = sessions.create_stateless_token(session_id=session.session_id, lifetime_secs=60).data.stateless_token
    clock.advance(61)
    for header in ("Bearer a.b.c", f"Bearer {expired}"):
        refused = Client(HTTP_AUTHORIZATION=header).get(url)
        assert refused.status_code == 401 and refused.json()["type"] == "InvalidStatelessToken"
        assert refused["WWW-Authenticate"] == 'Bearer realm="byo_sessions", error="invalid_token"'
        assert refused["Cache-Control"] == "no-store"
    dead = Client(HTTP_AUTHORIZATION="Bearer byo_s_" + "A" * 43).get(url)
    assert dead.status_code == 401 and dead.json()["type"] == "InvalidSessionToken"
    assert dead["WWW-Authenticate"] == 'Bearer realm="byo_sessions"' and dead["Cache-Control"] == "no-store"
    anonymous = Client().get(url)  # no credentials: no error code (RFC 6750 section 3.1)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == 'Bearer realm="byo_sessions"'
    assert anonymous["Cache-Control"] == "no-store"


class RevocationCheckedMe(JwtMe):
    authentication_classes = [StatelessTokenAuthentication]


class CheckedStatelessAuthentication(StatelessTokenAuthentication):
    check_revocation = True


class AlwaysCheckedMe(JwtMe):
    authentication_classes = [CheckedStatelessAuthentication]


urlpatterns += [
    path("drf/jwt-setting/", RevocationCheckedMe.as_view()),
    path("drf/jwt-checked/", AlwaysCheckedMe.as_view()),
]


def test_drf_refuses_tokens_of_ended_sessions_by_setting_or_by_class(
    revocation_cache, user, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    session = sessions.create(user_id=user.pk).data
    token = sessions.create_stateless_token(session_id=session.session_id).data.stateless_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_assert_num_queries(0):  # the check is a cache read, never a query
        assert api.get("/drf/jwt-checked/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        sessions.invalidate_by_id(session_id=session.session_id)
    response = api.get("/drf/jwt-checked/")
    assert response.status_code == 401 and response.json()["details"]["reason"] == "session_ended"
    assert api.get("/drf/jwt-setting/").status_code == 200  # the setting is off: valid until exp
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_REVOCATION_CHECK": True}
    assert api.get("/drf/jwt-setting/").status_code == 401


def test_drf_answers_503_when_the_revocation_cache_is_unreachable(user, settings):
    from tests.services.test_revocation import _closed_port

    settings.CACHES = {
        **settings.CACHES,
        "revocation": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        },
    }
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_REVOCATION_CACHE": "revocation"}
    session = sessions.create(user_id=user.pk).data
    token = sessions.create_stateless_token(session_id=session.session_id).data.stateless_token
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/drf/jwt-checked/")
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response.json()["details"]["reason"] == "revocation_cache_unavailable"
    assert "WWW-Authenticate" not in response
