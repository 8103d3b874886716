"""The middleware (middleware.py): cookie and Bearer transports, what a request costs,
typed errors, the cookie after rotation or an ended session. ``byo_sessions.login``/``logout``
are in test_auth.py, the decorators in test_decorators.py, the admin in tests/admin/."""

from __future__ import annotations

import pytest
from django.test import Client

from byo_sessions import sessions
from byo_sessions.conf import byo_settings
from byo_sessions.models import Session
from tests.constants import COOKIE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_cookie(settings):
    settings.BYO_SESSIONS = {}


def login(client: Client, username: str = "alice") -> str:
    response = client.post("/login/", {"username": username})
    assert response.status_code == 200, response.content
    return response.cookies[COOKIE].value


def test_login_sets_a_hardened_cookie(client, user):
    response = client.post("/login/", {"username": "alice"})
    morsel = response.cookies[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == byo_settings.ABSOLUTE_LIFETIME_SECS
    assert Session.objects.get().token_hash != morsel.value


def test_cookie_follows_djangos_session_cookie_settings(client, user, settings):
    """The cookie is Django's: SESSION_COOKIE_* and SESSION_EXPIRE_AT_BROWSER_CLOSE apply."""
    settings.SESSION_COOKIE_NAME = "__Host-session_token"
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    response = client.post("/login/", {"username": "alice"})
    morsel = response.cookies["__Host-session_token"]
    assert morsel["secure"] is True and morsel["path"] == "/" and not morsel["domain"]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["max-age"] == ""
    assert COOKIE not in response.cookies
    assert client.get("/whoami/").json()["user"] == "alice"


def test_authenticated_request_costs_one_query_and_no_write(client, user, django_assert_num_queries):
    login(client)
    client.get("/whoami/")  # warm the policy cache
    with django_assert_num_queries(1) as ctx:
        body = client.get("/protected/").json()
    assert body["user"] == "alice"
    assert "UPDATE" not in ctx.captured_queries[0]["sql"].upper()


def test_anonymous_request_costs_no_query(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/whoami/").json() == {"user": None, "session_id": None, "error": None}


def test_dead_cookie_is_cleared(client, user):
    token = login(client)
    sessions.invalidate_by_token(session_token=token)
    response = client.get("/whoami/")
    assert response.json()["error"] == "SessionInvalidated"
    assert response.cookies[COOKIE].value == ""


def test_bearer_transport(user):
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/protected/").json()["user"] == "alice"


def test_bearer_requests_are_csrf_exempt_but_cookie_requests_are_not(user):
    token = sessions.create(user_id=user.pk).data.session_token
    bearer = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.post("/post-echo/").status_code == 200
    browser = Client(enforce_csrf_checks=True)
    browser.cookies[COOKIE] = token
    assert browser.post("/post-echo/").status_code == 403


@pytest.mark.parametrize(
    "token", ["", "garbage", "x" * 8000, "byo_s_" + "é" * 43, "Bearer", "byo_s_" + "A" * 43, "byo_s_" + "\u202e" * 43]
)
def test_garbage_bearer_tokens_get_typed_401(user, token):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")
    response = api.get("/protected/")
    assert response.status_code == 401
    assert response.json()["type"] == "InvalidSessionToken"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_session_says_so_in_json(client, user, clock, settings):
    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 60, "INACTIVITY_TIMEOUT_SECS": None}
    login(client)
    clock.advance(61)
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json()["type"] == "SessionExpired"
    assert response.json()["details"]["reason"] == "expired_absolute"


def test_django_login_required_works(client, user):
    assert client.get("/django-protected/").status_code == 302
    login(client)
    assert client.get("/django-protected/").json() == {"user": "alice"}


def test_deactivated_user_is_logged_out_on_next_request(client, user):
    login(client)
    user.is_active = False
    user.save()
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["type"] == "UserInactive"


def test_cookie_max_age_follows_the_absolute_expiry_after_rotation(client, user, clock, settings):
    settings.BYO_SESSIONS = {
        "ABSOLUTE_LIFETIME_SECS": 86400,
        "INACTIVITY_TIMEOUT_SECS": 1800,
        "ROTATION_INTERVAL_SECS": 600,
    }
    login(client)
    clock.advance(600)
    response = client.get("/whoami/")
    assert int(response.cookies[COOKIE]["max-age"]) == 86400 - 600


def test_session_ended_by_an_ip_change_clears_the_cookie(client, user):
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.create(selector="org:*", on_ip_address_change="invalidate")
    client.post("/login/", {"username": "alice", "tag": "org:acme"})
    response = client.get("/whoami/", REMOTE_ADDR="192.0.2.200")
    assert response.json()["error"] == "IpAddressChanged"
    assert response.cookies[COOKIE].value == ""


def test_database_outage_is_a_typed_503_not_a_500(client, user, monkeypatch):
    from django.db import OperationalError

    from byo_sessions import selectors

    login(client)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "session_by_token_hash", down)
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503 and response.json()["type"] == "UnexpectedError"
    assert COOKIE not in response.cookies  # the cookie is kept for when the database is back


# --- Cache-Control on token-carrying responses and refusals (issue 11, item 8) -------------


def test_login_and_rotation_responses_are_no_store_and_steady_ones_are_left_alone(client, user, clock, settings):
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 600, "INACTIVITY_TIMEOUT_SECS": None}
    response = client.post("/login/", {"username": "alice"})
    assert response.cookies[COOKIE].value and response["Cache-Control"] == "no-store"
    steady = client.get("/whoami/")
    assert COOKIE not in steady.cookies and "Cache-Control" not in steady
    clock.advance(600)
    rotated = client.get("/whoami/")
    assert rotated.cookies[COOKIE].value and rotated["Cache-Control"] == "no-store"
    logout = client.post("/logout/")
    assert logout.cookies[COOKIE].value == "" and logout["Cache-Control"] == "no-store"


def test_a_bearer_clients_refreshed_token_header_is_no_store(user, clock, settings):
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 600, "INACTIVITY_TIMEOUT_SECS": None}
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert "Cache-Control" not in api.get("/protected/")
    clock.advance(600)
    response = api.get("/protected/")
    assert response[byo_settings.REFRESHED_TOKEN_HEADER] and response["Cache-Control"] == "no-store"


def cached_refusal(request):
    from django.http import HttpResponseForbidden
    from django.utils.cache import patch_cache_control

    response = HttpResponseForbidden("no")
    patch_cache_control(response, private=True, max_age=60)
    return response


from django.urls import path as _path  # noqa: E402

from tests import urls as _base_urls  # noqa: E402


def own_refusal(request):
    """A device-required view answering its own bare 401 (as DRF's exception handler might)."""
    from django.http import JsonResponse

    response = JsonResponse({"refused": True}, status=401 if request.byo_session_error else 200)
    if "own" in request.GET:
        response["WWW-Authenticate"] = 'Custom realm="own"'
    return response


own_refusal.byo_device_required = True  # as @device_verification_required, without login_required

urlpatterns = [_path("cached-refusal/", cached_refusal), _path("own-refusal/", own_refusal), *_base_urls.urlpatterns]


@pytest.mark.urls("tests.test_middleware")
def test_any_refusal_is_no_store_and_an_existing_cache_control_is_merged(client, db):
    response = client.get("/cached-refusal/")
    assert response.status_code == 403
    assert set(response["Cache-Control"].split(", ")) == {"private", "max-age=60", "no-store"}
    dead = Client(HTTP_AUTHORIZATION="Bearer byo_s_" + "A" * 43).get("/protected/")
    assert dead.status_code == 401 and dead["Cache-Control"] == "no-store"


def test_device_refusals_carry_the_rfc_9449_headers(user, clock):
    """The middleware's 425 and ``login_required``'s 401 say what a standard DPoP client needs:
    ``DPoP-Nonce`` (the JSON body's challenge) with ``use_dpop_nonce``, ``algs`` for a missing proof."""
    from byo_sessions.core.dpop import access_token_hash
    from tests.constants import IP, UA
    from tests.dpop_signer import TestDevice
    from tests.services.test_devices import login as device_login

    device = TestDevice()
    token = device_login(user, device, clock).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    url, now = "http://testserver/device-api/", int(clock.now().timestamp())
    bound = {"ath": access_token_hash(token)}
    missing = api.get("/device-api/")
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == 'DPoP algs="ES256"'
    no_nonce = api.get("/device-api/", HTTP_DPOP=device.proof("GET", url, None, iat=now, claim_overrides=bound))
    assert no_nonce.status_code == 425 and no_nonce.json()["details"]["reason"] == "missing_challenge"
    assert no_nonce["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce", algs="ES256"'
    assert no_nonce["DPoP-Nonce"] == no_nonce.json()["deviceChallenge"]
    nonce = no_nonce["DPoP-Nonce"]
    assert (
        api.get("/device-api/", HTTP_DPOP=device.proof("GET", url, nonce, iat=now, claim_overrides=bound)).status_code
        == 200
    )
    forged = api.get("/device-api/", HTTP_DPOP=TestDevice().proof("GET", url, nonce, iat=now, claim_overrides=bound))
    assert forged.status_code == 401 and forged["WWW-Authenticate"] == 'DPoP error="invalid_dpop_proof", algs="ES256"'


# --- a session cookie and a different Bearer session token (issue 11, item 6) ------------


def _conflict_rows():
    from byo_sessions.models import AuditEvent

    return list(AuditEvent.objects.filter(reason="conflicting_tokens").values_list("session_id", "event_type"))


@pytest.mark.parametrize("url", ["/protected/", "/drf/me/"])
def test_a_cookie_and_a_different_bearer_token_are_both_refused(user, other_user, caplog, url):
    """Neither token is used (the request cannot say whose it is) nor ended; one audit row
    for the cookie's session per minute, a log line every time; the cookie stays."""
    mine = sessions.create(user_id=user.pk).data
    theirs = sessions.create(user_id=other_user.pk).data
    client = Client(HTTP_AUTHORIZATION=f"Bearer {theirs.session_token}", HTTP_ACCEPT="application/json")
    client.cookies[COOKIE] = mine.session_token
    for _ in range(2):
        with caplog.at_level("INFO", logger=byo_settings.AUDIT_LOGGER):
            response = client.get(url)
        assert response.status_code == 401, response.content
        assert response.json()["type"] == "InvalidSessionToken"
        assert response.json()["details"]["reason"] == "conflicting_tokens"
        assert COOKIE not in response.cookies and byo_settings.REFRESHED_TOKEN_HEADER not in response
    assert client.get("/whoami/").json() == {"user": None, "session_id": None, "error": "InvalidSessionToken"}
    assert _conflict_rows() == [(mine.session_id, "validation_failed")]
    assert sum("conflicting_tokens" in r.getMessage() for r in caplog.records) >= 1
    for token in (mine.session_token, theirs.session_token):  # neither ended
        assert sessions.validate(session_token=token).data is not None


def test_conflicting_tokens_that_name_no_session_are_logged_not_stored(db, caplog):
    client = Client(HTTP_AUTHORIZATION="Bearer byo_s_" + "B" * 43, HTTP_ACCEPT="application/json")
    client.cookies[COOKIE] = "byo_s_" + "A" * 43
    with caplog.at_level("INFO", logger=byo_settings.AUDIT_LOGGER):
        response = client.get("/protected/")
    assert response.status_code == 401 and response.json()["details"]["reason"] == "conflicting_tokens"
    assert _conflict_rows() == []
    lines = [r.getMessage() for r in caplog.records if "conflicting_tokens" in r.getMessage()]
    assert len(lines) == 1 and '"ip": "127.0.0.1"' in lines[0]


@pytest.mark.parametrize("bearer", ["same", "jwt"])
def test_the_same_token_twice_or_a_jwt_beside_the_cookie_is_fine(user, bearer):
    token = sessions.create(user_id=user.pk).data.session_token
    value = token if bearer == "same" else "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
    client = Client(HTTP_AUTHORIZATION=f"Bearer {value}")
    client.cookies[COOKIE] = token
    assert client.get("/protected/").json()["user"] == "alice"
    assert _conflict_rows() == []


def test_a_session_exempt_view_ignores_a_cookie_beside_its_bearer_key(user):
    """The exempt view's Authorization header is not a session token: no conflict, no session."""
    client = Client(HTTP_AUTHORIZATION="Bearer byo_ik_" + "C" * 43)
    client.cookies[COOKIE] = sessions.create(user_id=user.pk).data.session_token
    assert client.get("/exempt/").json() == {"user": None, "session": False}
    assert _conflict_rows() == []


@pytest.mark.urls("tests.test_middleware")
def test_the_middleware_adds_missing_dpop_headers_to_a_views_refusal(user, clock):
    from tests.constants import IP, UA
    from tests.dpop_signer import TestDevice
    from tests.services.test_devices import login as device_login

    token = device_login(user, TestDevice(), clock).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    bare = api.get("/own-refusal/")
    assert bare.status_code == 401 and bare["WWW-Authenticate"] == 'DPoP algs="ES256"'
    own = api.get("/own-refusal/?own=1")
    assert own.status_code == 401 and own["WWW-Authenticate"] == 'Custom realm="own"'  # the view's own wins
