"""Re-authentication at the edge (ASVS 3.7.1): ``reauth_required`` (a redirect to the
re-auth page for pages, a typed 401 with RFC 9470's step-up challenge for API calls),
DRF's ``RecentlyAuthenticated``, the re-auth page and the JSON endpoints (password, device
proof), and what a login through Django's views records."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from byo_sessions import sessions
from byo_sessions.core.dpop import access_token_hash
from byo_sessions.decorators import reauth_required
from byo_sessions.drf.authentication import SessionTokenAuthentication
from byo_sessions.drf.permissions import RecentlyAuthenticated
from byo_sessions.models import AuditEvent, Session
from tests import urls as test_urls
from tests.constants import IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import cookie_name
from tests.services.test_devices import login as device_login

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_reauth")]


@reauth_required(max_age=300)
def sensitive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"done": True, "user": request.user.get_username()})


@reauth_required(max_age=300)
async def async_sensitive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"done": True})


@reauth_required(max_age=300, factors=["device_proof"])
def device_only(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"done": True})


class DrfSensitive(APIView):
    authentication_classes = [SessionTokenAuthentication]
    permission_classes = [IsAuthenticated, RecentlyAuthenticated.within(300)]

    def post(self, request):
        return Response({"done": True})


urlpatterns = [
    path("sensitive/", sensitive),
    path("async-sensitive/", async_sensitive),
    path("device-only/", device_only),
    path("drf/sensitive/", DrfSensitive.as_view()),
    *test_urls.urlpatterns,
]

REAUTH_PAGE = "/byo/reauthenticate"
JSON = {"HTTP_ACCEPT": "application/json"}


def _client(user, *, authentication=("password",)) -> tuple[Client, str]:
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, authentication=authentication).data
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    client.cookies[cookie_name()] = created.session_token
    return client, created.session_id


# --- reauth_required -------------------------------------------------------------------


def test_a_fresh_login_passes(user, clock):
    client, _ = _client(user)
    clock.advance(300)
    assert client.get("/sensitive/").json() == {"done": True, "user": "alice"}


def test_a_stale_page_request_goes_to_the_reauth_page_and_back(user, clock):
    client, _ = _client(user)
    clock.advance(301)
    response = client.get("/sensitive/?x=1")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == REAUTH_PAGE and parse_qs(target.query)["next"] == ["/sensitive/?x=1"]


def test_a_stale_form_post_comes_back_to_the_page_it_was_sent_from(user, clock):
    """A redirect cannot replay a POST: the user lands back on the form's page."""
    client, _ = _client(user)
    clock.advance(301)
    response = client.post("/sensitive/", HTTP_REFERER="http://testserver/account/sessions/")
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == ["http://testserver/account/sessions/"]
    elsewhere = client.post("/sensitive/", HTTP_REFERER="https://evil.example/")
    assert parse_qs(urlsplit(elsewhere["Location"]).query)["next"] == ["/accounts/profile/"]


def test_a_stale_api_call_gets_a_typed_401_with_the_step_up_challenge(user, clock):
    client, _ = _client(user)
    clock.advance(301)
    response = client.get("/sensitive/", **JSON)
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "ReauthenticationRequired"
    assert body["details"]["max_age"] == 300 and body["details"]["reason"] == "stale_authentication"
    assert response["WWW-Authenticate"] == (
        'Bearer realm="byo_sessions", error="insufficient_user_authentication", '
        'error_description="A more recent authentication is required", '
        'max_age="300"'
    )
    assert "no-store" in response["Cache-Control"]


def test_no_session_is_a_login_refusal_not_a_reauth_one(user, clock):
    response = Client().get("/sensitive/", **JSON)
    assert response.status_code == 401 and response.json()["type"] == "InvalidSessionToken"


def test_async_views_are_guarded_too(user, clock):
    client, _ = _client(user)
    assert client.get("/async-sensitive/").json() == {"done": True}
    clock.advance(301)
    assert client.get("/async-sensitive/", **JSON).json()["type"] == "ReauthenticationRequired"


def test_factors_say_which_proof_counts(user, clock):
    client, _ = _client(user)  # logged in with a password only
    refused = client.get("/device-only/", **JSON)
    assert refused.status_code == 401 and refused.json()["details"]["accepted_factors"] == ["device_proof"]


def test_a_guarded_view_costs_one_more_query(user, clock, django_assert_num_queries):
    client, _ = _client(user)
    client.get("/sensitive/")  # the first request writes the client's IP and User-Agent
    with django_assert_num_queries(2):  # the session (with its user), then its authentication
        assert client.get("/sensitive/").status_code == 200


# --- DRF -------------------------------------------------------------------------------


def test_drf_permission(user, clock):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, authentication=["password"]).data
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_AUTHORIZATION=f"Bearer {created.session_token}")
    assert api.post("/drf/sensitive/").json() == {"done": True}
    clock.advance(301)
    refused = api.post("/drf/sensitive/")
    assert refused.status_code == 401 and refused.json()["type"] == "ReauthenticationRequired"
    assert 'error="insufficient_user_authentication"' in refused["WWW-Authenticate"]
    assert "no-store" in refused["Cache-Control"]
    done = api.post("/byo/api/reauthenticate", {"password": "pw-alice-123"}, content_type="application/json")
    assert done.status_code == 200 and done.json()["factors"] == ["password"]
    new_token = done["BYO-Session-Token"]  # a new token after re-authentication
    assert new_token != created.session_token
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {new_token}"
    assert api.post("/drf/sensitive/").json() == {"done": True}


# --- the re-auth page ------------------------------------------------------------------


def test_the_page_reauthenticates_and_returns(user, clock):
    client, session_id = _client(user)
    clock.advance(301)
    page = client.get(REAUTH_PAGE, {"next": "/sensitive/"})
    assert page.status_code == 200 and b'name="password"' in page.content and b"Confirm it is you" in page.content
    assert "no-cache" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    old_token = client.cookies[cookie_name()].value
    done = client.post(f"{REAUTH_PAGE}?next=/sensitive/", {"password": "pw-alice-123", "next": "/sensitive/"})
    assert done.status_code == 302 and done["Location"] == "/sensitive/"
    assert done.cookies[cookie_name()].value != old_token  # a new token after re-authentication
    assert client.get("/sensitive/").json()["done"] is True
    assert AuditEvent.objects.filter(event_type="session_reauthenticated", session_id=session_id).exists()


def test_the_page_refuses_an_open_redirect(user, clock):
    client, _ = _client(user)
    done = client.post(REAUTH_PAGE, {"password": "pw-alice-123", "next": "https://evil.example/"})
    assert done["Location"] == "/accounts/profile/"


def test_a_wrong_password_on_the_page_says_how_many_are_left(user, clock, settings):
    settings.BYO_SESSIONS = {"REAUTH_MAX_FAILURES": 2}
    client, session_id = _client(user)
    wrong = client.post(REAUTH_PAGE, {"password": "nope", "next": "/sensitive/"})
    assert wrong.status_code == 200 and b"1 attempt(s) left" in wrong.content
    ended = client.post(REAUTH_PAGE, {"password": "nope", "next": "/sensitive/"})
    assert ended.status_code == 302 and urlsplit(ended["Location"]).path == settings.LOGIN_URL
    assert Session.objects.get(pk=session_id).end_reason == "reauthentication_failed"
    assert client.get("/sensitive/", **JSON).status_code == 401


def test_the_page_needs_a_session(clock, settings):
    response = Client().get(REAUTH_PAGE)
    assert response.status_code == 302 and urlsplit(response["Location"]).path == settings.LOGIN_URL


def test_the_page_offers_the_device_to_a_device_bound_session(user, clock):
    token = device_login(user, TestDevice(), clock).data.session_token
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    client.cookies[cookie_name()] = token
    assert b'id="byo-reauth-device"' in client.get(REAUTH_PAGE).content
    plain, _ = _client(user)
    assert b'id="byo-reauth-device"' not in plain.get(REAUTH_PAGE).content


# --- the JSON endpoints ----------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"password": 12}, {"password": ""}, [1, 2], {"password": None}])
def test_the_api_refuses_a_malformed_body(user, clock, body):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_AUTHORIZATION=f"Bearer {created.session_token}")
    response = api.post("/byo/api/reauthenticate", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["type"] == "InvalidParameters"
    assert Session.objects.get(pk=created.session_id).reauthentication_failures == 0


def test_the_api_refuses_broken_json(user, clock):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_AUTHORIZATION=f"Bearer {created.session_token}")
    response = api.post("/byo/api/reauthenticate", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]  # DRF's own answer


def test_the_api_answers_wrong_passwords_with_403_and_attempts_left(user, clock):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_AUTHORIZATION=f"Bearer {created.session_token}")
    wrong = api.post("/byo/api/reauthenticate", {"password": "nope"}, content_type="application/json")
    assert wrong.status_code == 403
    assert wrong.json()["type"] == "ReauthenticationFailed" and wrong.json()["details"]["attempts_left"] == 4
    bad = api.post("/byo/api/reauthenticate", {"password": 5}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["type"] == "InvalidParameters"
    assert Client().post("/byo/api/reauthenticate", {"password": "x"}, content_type="application/json").status_code in (
        401,
        403,
    )


def test_a_cookie_api_call_needs_the_csrf_token(user, clock):
    client, _ = _client(user)
    client.handler.enforce_csrf_checks = True
    response = client.post("/byo/api/reauthenticate", {"password": "pw-alice-123"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_a_device_proof_reauthenticates_a_device_bound_session(user, clock):
    device = TestDevice()
    token = device_login(user, device, clock).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    clock.advance(301)
    assert api.get("/device-only/", **JSON).json()["type"] == "ReauthenticationRequired"
    url = "http://testserver/byo/api/reauthenticate/device"
    first = api.post(url)  # no proof: the 425 with a challenge, as device.js expects
    assert first.status_code in (401, 425)
    nonce = api.post(
        url,
        HTTP_DPOP=device.proof(
            "POST", url, None, iat=int(clock.now().timestamp()), claim_overrides={"ath": access_token_hash(token)}
        ),
    )["DPoP-Nonce"]
    proof = device.proof(
        "POST", url, nonce, iat=int(clock.now().timestamp()), claim_overrides={"ath": access_token_hash(token)}
    )
    done = api.post(url, HTTP_DPOP=proof)
    assert done.status_code == 200 and done.json()["factors"] == ["device_proof"]
    assert api.get("/device-only/", **JSON).json() == {"done": True}


def test_a_session_without_a_device_cannot_use_the_device_endpoint(user, clock):
    created = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
    api = Client(HTTP_AUTHORIZATION=f"Bearer {created.session_token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    response = api.post("/byo/api/reauthenticate/device")
    assert response.status_code == 401 and response.json()["type"] == "DeviceVerificationRequired"
    assert not AuditEvent.objects.filter(event_type="session_reauthenticated").exists()


# --- what logins record ----------------------------------------------------------------


def test_a_login_through_djangos_model_backend_records_a_password(user, clock):
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    assert client.login(username="alice", password="pw-alice-123")
    session = Session.objects.get(user=user, ended_at__isnull=True)
    assert session.authentication_factors == {"password": clock.now().isoformat()}
    assert session.authenticated_at == clock.now()
