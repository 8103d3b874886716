"""The HTTP edge's shared pieces (http.py): which token a request presents (cookie, Bearer,
or a JWT-shaped Bearer that is not ours), the one Bearer parser, the status table, the
error bodies (the 425 with its challenge), JSON-or-redirect, and view flags."""

from __future__ import annotations

import json

import pytest
from django.http import HttpRequest
from django.views import View
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from byo_sessions import http
from byo_sessions.values import ErrorType, SessionError
from tests.constants import COOKIE, IP, UA

TOKEN = "byo_s_" + "A" * 43
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"  # three dot-separated parts


# --- which token a request presents ------------------------------------------------------


def _request(rf, *, cookie: str | None = None, authorization: str | None = None) -> HttpRequest:
    request = rf.get("/", **({"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}))
    if cookie is not None:
        request.COOKIES[COOKIE] = cookie
    return request


@pytest.mark.parametrize(
    "cookie, authorization, expected",
    [
        (TOKEN, None, (TOKEN, "cookie")),
        (None, f"Bearer {TOKEN}", (TOKEN, "bearer")),
        ("from-cookie", f"Bearer {TOKEN}", (TOKEN, "bearer")),  # the store refuses both (conflicting_cookie)
        (TOKEN, f"Bearer {JWT}", (TOKEN, "cookie")),  # a stateless token is not ours: the cookie stands
        (None, f"Bearer {JWT}", None),
        (TOKEN, "Basic dXNlcjpwdw==", (TOKEN, "cookie")),
        (None, "Basic dXNlcjpwdw==", None),
        (None, "Bearer", None),
        (None, "Bearer    ", None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_presented_token(rf, cookie, authorization, expected):
    presented = http.presented_token(_request(rf, cookie=cookie, authorization=authorization))
    assert ((presented.value, presented.transport) if presented else None) == expected


@pytest.mark.parametrize(
    "cookie, authorization, conflicting",
    [
        ("byo_s_" + "C" * 43, f"Bearer {TOKEN}", "byo_s_" + "C" * 43),  # two session tokens: refused
        ("junk", f"Bearer {TOKEN}", "junk"),
        (TOKEN, f"Bearer {TOKEN}", None),  # the same token twice
        (TOKEN, f"Bearer {JWT}", None),  # a stateless token beside the cookie: not a session token
        (TOKEN, None, None),
        (None, f"Bearer {TOKEN}", None),
        ("", f"Bearer {TOKEN}", None),
    ],
)
def test_conflicting_cookie(rf, cookie, authorization, conflicting):
    request = _request(rf, cookie=cookie, authorization=authorization)
    assert http.conflicting_cookie(request, http.presented_token(request)) == conflicting


def test_no_conflict_when_bearer_is_not_allowed(rf, settings):
    settings.BYO_SESSIONS = {"ALLOW_BEARER": False}
    request = _request(rf, cookie="byo_s_" + "C" * 43, authorization=f"Bearer {TOKEN}")
    assert http.conflicting_cookie(request, http.presented_token(request)) is None


def test_a_token_in_the_url_is_never_read(rf):
    """ASVS 3.1.1: a token in the query string would reach access logs, Referer and history."""
    request = rf.get("/", {COOKIE: TOKEN, "access_token": TOKEN, "token": TOKEN, "session": TOKEN})
    assert http.presented_token(request) is None


def test_bearer_is_ignored_when_not_allowed(rf, settings):
    settings.BYO_SESSIONS = {"ALLOW_BEARER": False}
    assert http.presented_token(_request(rf, authorization=f"Bearer {TOKEN}")) is None
    presented = http.presented_token(_request(rf, cookie="c", authorization=f"Bearer {TOKEN}"))
    assert (presented.value, presented.transport) == ("c", "cookie")


def test_the_cookie_is_djangos_session_cookie(rf, settings):
    settings.SESSION_COOKIE_NAME = "__Host-sid"
    request = rf.get("/")
    request.COOKIES[COOKIE] = "old-name"
    assert http.presented_token(request) is None
    request.COOKIES["__Host-sid"] = TOKEN
    assert http.presented_token(request).value == TOKEN


@pytest.mark.parametrize(
    "header, expected",
    [
        (f"Bearer {TOKEN}", TOKEN),
        (f"bearer {TOKEN}", TOKEN),
        (f"BEARER {TOKEN}", TOKEN),
        (f"Bearer   {TOKEN}  ", TOKEN),
        (f"Bearer {JWT}", JWT),  # the parser does not judge the value; presented_token does
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        (f"Token {TOKEN}", None),
        (f"Bearer{TOKEN}", None),
        ("", None),
    ],
)
def test_bearer_credentials(header, expected):
    assert http.bearer_credentials(header) == expected


def test_bearer_value_reads_the_authorization_header(rf):
    assert http.bearer_value(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")) == TOKEN
    assert http.bearer_value(rf.get("/")) is None


def test_a_jwt_bearer_is_not_mistaken_for_a_session_token(user, caplog):
    import logging

    from django.test import Client

    from byo_sessions import sessions as api

    token = api.create_stateless_token(user_id=user.pk).data.stateless_token
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/whoami/")
    assert response.json()["error"] is None  # the session side left it alone
    assert "malformed_token" not in caplog.text


# --- statuses and bodies ------------------------------------------------------------------

# Every error type and the status the edge answers it with (docs/api.md, "Error types").
# A new ErrorType fails test_status_table_is_total until its status is decided here.
DOCUMENTED_STATUS = {
    ErrorType.INVALID_SESSION_TOKEN: 401,
    ErrorType.SESSION_EXPIRED: 401,
    ErrorType.SESSION_INVALIDATED: 401,
    ErrorType.USER_INACTIVE: 401,
    ErrorType.TOKEN_REUSE_DETECTED: 401,
    ErrorType.IP_ADDRESS_CHANGED: 401,
    ErrorType.USER_AGENT_CHANGED: 401,
    ErrorType.DEVICE_VERIFICATION_REQUIRED: 401,
    ErrorType.DEVICE_VERIFICATION_FAILED: 401,
    ErrorType.IP_ADDRESS_NOT_ALLOWED: 403,
    ErrorType.MISSING_REQUIRED_TAGS: 403,
    ErrorType.SESSION_NOT_FOUND: 404,
    ErrorType.DEVICE_NOT_FOUND: 404,
    ErrorType.UNKNOWN_USER: 404,
    ErrorType.DEVICE_ALREADY_REGISTERED: 409,
    ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED: 425,
    ErrorType.SESSION_LIMIT_EXCEEDED: 429,
    ErrorType.INVALID_IP_ADDRESS: 400,
    ErrorType.INVALID_TAG_FORMAT: 400,
    ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS: 400,
    ErrorType.CONFLICTING_METADATA_OPTIONS: 400,
    ErrorType.INVALID_METADATA: 400,
    ErrorType.INVALID_DEVICE_REGISTRATION: 400,
    ErrorType.UPDATING_TOO_MANY_SESSIONS: 400,
    ErrorType.INVALID_PARAMETERS: 400,
    ErrorType.INVALID_STATELESS_TOKEN: 400,  # StatelessTokenAuthentication answers 401 itself
    ErrorType.REAUTHENTICATION_REQUIRED: 401,  # the session is fine; its authentication is too old
    ErrorType.REAUTHENTICATION_FAILED: 403,  # a wrong password: the session is kept (until the limit)
    ErrorType.UNEXPECTED_ERROR: 503,
}


def test_status_table_is_total():
    assert set(DOCUMENTED_STATUS) == set(ErrorType)
    assert {t: http.status_for(SessionError(t)) for t in ErrorType} == DOCUMENTED_STATUS
    assert all(DOCUMENTED_STATUS[t] == status for t, status in http.STATUS_BY_ERROR.items())


def test_a_worthless_token_is_a_401():
    """The cookie is cleared only for an error that says the token is worthless (a 401)."""
    assert http.TERMINAL_ERRORS and all(DOCUMENTED_STATUS[t] == 401 for t in http.TERMINAL_ERRORS)
    assert ErrorType.UNEXPECTED_ERROR not in http.TERMINAL_ERRORS  # the database is back soon: keep the cookie


@pytest.mark.parametrize("error_type", [t for t in ErrorType if t != ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED])
def test_error_response_body(error_type):
    details = {"message": "why", "reason": "because"}
    response = http.error_response(SessionError(error_type, details))
    assert response.status_code == DOCUMENTED_STATUS[error_type]
    assert response["Content-Type"] == "application/json" and response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {"type": str(error_type), "details": details}


def test_the_425_body_carries_its_challenge_at_the_top_level():
    details = {
        "message": "Sign a fresh challenge.",
        "reason": "iat_too_old",
        "device_challenge": "c.h.a",
        "expires_at": 1_800_000_300,
    }
    response = http.error_response(SessionError(ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED, details))
    assert response.status_code == 425 and response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {
        "type": "NewDeviceChallengeRequired",
        "details": details,
        "deviceChallenge": "c.h.a",
        "expiresAt": 1_800_000_300,
    }


def test_a_425_without_a_challenge_answers_nulls_not_a_crash():
    body = http.error_body(SessionError(ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED, {"message": "m"}))
    assert body == {
        "type": "NewDeviceChallengeRequired",
        "details": {"message": "m"},
        "deviceChallenge": None,
        "expiresAt": None,
    }


# --- JSON or a redirect --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"HTTP_ACCEPT": "application/json"}, True),
        ({"HTTP_ACCEPT": "text/html, application/json;q=0.9"}, True),
        ({"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}, True),
        ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, True),
        ({"HTTP_AUTHORIZATION": f"bearer {TOKEN}"}, True),
        ({"CONTENT_TYPE": "application/json"}, True),
        ({"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}, False),
        ({"HTTP_AUTHORIZATION": "Basic abc"}, False),
        ({"HTTP_X_REQUESTED_WITH": "fetch"}, False),
        ({}, False),
    ],
)
def test_wants_json(rf, headers, expected):
    assert http.wants_json(rf.get("/", **headers)) is expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"HTTP_DPOP": "a.proof.jwt"}, True),  # it can sign: a 425 lets it retry
        ({"HTTP_ACCEPT": "application/json"}, True),  # it reads the challenge in JSON
        ({"HTTP_ACCEPT": "text/html"}, False),  # a page navigation cannot: it goes on as anonymous
        ({}, False),
    ],
)
def test_can_answer_challenge(rf, headers, expected):
    assert http.can_answer_challenge(rf.get("/", **headers)) is expected


# --- what the services get of a request ----------------------------------------------------


def test_client_info_carries_ip_user_agent_and_the_proof(rf):
    bearer = http.client_info(rf.get("/api/", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_DPOP="p.r.f"), "bearer")
    assert (bearer.ip_address, bearer.user_agent) == (IP, UA)
    proof = bearer.device_verification
    assert (proof.signed_device_challenge, proof.request_url, proof.request_method, proof.ath_rule) == (
        "p.r.f",
        "http://testserver/api/",
        "GET",
        "required",
    )  # RFC 9449: ath is mandatory with a Bearer token
    cookie = http.client_info(rf.get("/api/", HTTP_DPOP="p.r.f"), "cookie")
    assert cookie.device_verification.ath_rule == "ignored"
    assert http.client_info(rf.get("/api/")).device_verification is None


def test_client_ip_trusts_no_forwarded_header_unless_told(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=IP)
    assert http.client_info(request).ip_address == "10.0.0.5"
    settings.BYO_SESSIONS = {"PROXY_COUNT": 1}
    assert http.client_info(request).ip_address == IP


@pytest.mark.parametrize("trust", [{"PROXY_COUNT": 1}, {"TRUSTED_PROXIES": ["10.0.0.0/8"]}])
def test_client_ip_reads_the_header_the_proxy_writes(rf, settings, trust):
    """PROXY_IP_HEADER reaches core.network: a client's own X-Forwarded-For, passed through by
    a proxy that writes X-Real-IP, does not choose the IP."""
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.66", HTTP_X_REAL_IP=IP)
    settings.BYO_SESSIONS = {**trust, "PROXY_IP_HEADER": "X-Real-IP"}
    assert http.client_info(request).ip_address == IP
    direct = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_REAL_IP="198.51.100.66")
    if "TRUSTED_PROXIES" in trust:  # a peer outside TRUSTED_PROXIES: its header is the client's word
        assert http.client_info(direct).ip_address == "192.0.2.1"


def test_a_refused_host_gives_no_proof_url(rf, settings):
    settings.ALLOWED_HOSTS = ["app.example"]
    assert http.request_url(rf.get("/x/", HTTP_HOST="evil.example")) is None
    assert http.request_url(rf.get("/x/", HTTP_HOST="app.example")) == "http://app.example/x/"


# --- view flags ------------------------------------------------------------------------------


def _plain(request):
    return Response()


def _flagged(request):
    return Response()


_flagged.byo_device_required = True  # type: ignore[attr-defined]


class FlaggedView(View):
    byo_device_required = True


class FlaggedApi(APIView):
    byo_device_required = True


class FlaggedViewSet(viewsets.ViewSet):
    byo_device_required = True

    def list(self, request):
        return Response([])


@pytest.mark.parametrize(
    "view, expected",
    [
        (None, False),
        (_plain, False),
        (_flagged, True),
        (FlaggedView.as_view(), True),  # Django's as_view(): view_class
        (FlaggedApi.as_view(), True),  # DRF's APIView.as_view(): cls
        (FlaggedViewSet.as_view({"get": "list"}), True),  # a router's viewset: cls only
        (APIView.as_view(), False),
    ],
)
def test_view_flag(view, expected):
    assert http.view_flag(view, "byo_device_required") is expected


# --- RFC 9449 signalling (dpop_headers) ------------------------------------------------------

CHALLENGE_DETAILS = {
    "message": "m",
    "reason": "missing_challenge",
    "device_challenge": "c1.1.r.i.u.t",
    "expires_at": 1_800_000_300,
}


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            SessionError(ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED, CHALLENGE_DETAILS),
            {"WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"', "DPoP-Nonce": "c1.1.r.i.u.t"},
        ),
        (
            SessionError(ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED, {"message": "m"}),  # hand-made, no challenge
            {"WWW-Authenticate": 'DPoP error="use_dpop_nonce", algs="ES256"'},
        ),
        (
            SessionError(ErrorType.DEVICE_VERIFICATION_FAILED, {"message": "m", "reason": "bad_signature"}),
            {"WWW-Authenticate": 'DPoP error="invalid_dpop_proof", algs="ES256"'},
        ),
        (
            SessionError(ErrorType.DEVICE_VERIFICATION_REQUIRED, {"message": "m", "reason": "missing_proof"}),
            {"WWW-Authenticate": 'DPoP algs="ES256"'},
        ),
        # No device to prove: a proof would not help, so no DPoP challenge.
        (SessionError(ErrorType.DEVICE_VERIFICATION_REQUIRED, {"message": "m", "reason": "no_device_registered"}), {}),
        (SessionError(ErrorType.SESSION_EXPIRED, {"message": "m"}), {}),
    ],
)
def test_dpop_headers(error, expected):
    assert http.dpop_headers(error) == expected
    response = http.error_response(error)
    assert {name: response[name] for name in ("WWW-Authenticate", "DPoP-Nonce") if name in response} == expected


def test_the_425_nonce_header_is_the_body_challenge():
    response = http.error_response(SessionError(ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED, CHALLENGE_DETAILS))
    assert response["DPoP-Nonce"] == json.loads(response.content)["deviceChallenge"]


def test_bearer_challenge_answers_the_sessions_device_refusal(rf):
    request = rf.get("/")
    request.byo_session_error = SessionError(ErrorType.DEVICE_VERIFICATION_FAILED, {"message": "m"})
    assert http.bearer_challenge(request) == 'DPoP error="invalid_dpop_proof", algs="ES256"'
    request.byo_session_error = SessionError(ErrorType.SESSION_EXPIRED, {"message": "m"})
    assert http.bearer_challenge(request) == 'Bearer realm="byo_sessions"'
