"""The view decorators (decorators.py): ``login_required`` (a redirect for pages, a typed
JSON 401 for API calls, sync and async views, its own device resolution when no middleware
saw the view), ``ignore_device_for_verification``, ``device_verification_required`` and
``session_exempt``."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

from byo_sessions import sessions
from byo_sessions.decorators import device_verification_required, ignore_device_for_verification, login_required
from byo_sessions.middleware import SessionMiddleware
from byo_sessions.models import TagPolicy
from tests import urls as test_urls
from tests.constants import COOKIE, IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import API_URL, challenge, cookie_name, login

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_decorators")]


def _answer(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username()})


ignored_outside = ignore_device_for_verification(login_required(_answer))
ignored_inside = login_required(ignore_device_for_verification(lambda request: _answer(request)))


@login_required(login_url="/sign-in/")
def custom_login_url(request: HttpRequest) -> JsonResponse:
    return _answer(request)


urlpatterns = [
    path("ignored-outside/", ignored_outside),
    path("ignored-inside/", ignored_inside),
    path("custom-login-url/", custom_login_url),
    *test_urls.urlpatterns,
]


@pytest.mark.parametrize("url", ["/ignored-outside/", "/ignored-inside/"])
def test_ignore_device_for_verification_lets_a_device_required_session_in(user, clock, settings, url):
    settings.BYO_SESSIONS = {}
    TagPolicy.objects.create(selector="role:root", device_verification_required=True)
    token = login(user, TestDevice(), clock, tags=["role:root"]).data.session_token
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, HTTP_ACCEPT="application/json")
    client.cookies[cookie_name()] = token
    refused = client.get("/protected/")  # the same session, a view without the opt-out
    assert refused.status_code == 401 and refused.json()["type"] == "DeviceVerificationRequired"
    response = client.get(url)
    assert response.status_code == 200 and response.json() == {"user": "alice"}


def _stale_proof(device: TestDevice, clock) -> dict[str, str]:
    return {"HTTP_DPOP": device.proof("GET", API_URL, challenge(), iat=int(clock.now().timestamp()) - 3600)}


def _moved(device: TestDevice, clock) -> dict[str, str]:
    return {"REMOTE_ADDR": "203.0.113.77", "HTTP_ACCEPT": "application/json"}


@pytest.mark.parametrize("make_request,reason", [(_stale_proof, "iat_too_old"), (_moved, "ip_changed")])
def test_decorator_answers_425_when_no_middleware_did(user, clock, rf, settings, make_request, reason):
    """Called outside the URL resolver (no ``process_view``), the decorator resolves the request
    itself under the view's device rules and must answer the 425."""
    settings.BYO_SESSIONS = {}
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    device = TestDevice()
    token = login(user, device, clock, tags=["org:acme"]).data.session_token
    ran = []
    view = login_required(device_verification_required(lambda request: ran.append(1) or _answer(request)))
    request = rf.get("/device-api/", **{"REMOTE_ADDR": IP, "HTTP_USER_AGENT": UA, **make_request(device, clock)})
    request.COOKIES[cookie_name()] = token
    response = SessionMiddleware(view)(request)
    assert response.status_code == 425, response.content
    body = json.loads(response.content)
    assert body["type"] == "NewDeviceChallengeRequired" and body["details"]["reason"] == reason
    assert body["deviceChallenge"] and body["expiresAt"] and response["Cache-Control"] == "no-store"
    assert ran == []


@pytest.mark.parametrize("token", ["garbage", "byo_s_" + "A" * 43, "%00%ff", "a" * 4000])
def test_garbage_cookies_redirect_pages_and_401_json(client, db, token):
    client.cookies[COOKIE] = token
    page = client.get("/protected/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/?next=/protected/")
    api = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert api.status_code == 401 and api.json()["type"] == "InvalidSessionToken"


def test_async_views(async_client, user):
    from asgiref.sync import async_to_sync

    token = sessions.create(user_id=user.pk).data.session_token

    async def run():
        async_client.cookies[COOKIE] = token
        ok = await async_client.get("/async-protected/")
        who = await async_client.get("/async-whoami/")
        async_client.cookies[COOKIE] = "garbage"
        refused = await async_client.get("/async-protected/", headers={"accept": "application/json"})
        return ok, who, refused

    ok, who, refused = async_to_sync(run)()
    assert ok.status_code == 200 and ok.json()["user"] == "alice"
    assert who.json() == {"user": "alice"}
    assert refused.status_code == 401 and refused.json()["type"] == "InvalidSessionToken"


def test_session_exempt_views_validate_nothing(user, django_assert_num_queries):
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_assert_num_queries(0):
        assert api.get("/exempt/").json() == {"user": None, "session": False}


def test_no_session_is_a_typed_401_for_api_calls_and_a_redirect_for_pages(client, settings):
    api = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert api.status_code == 401 and api["Cache-Control"] == "no-store"
    assert api.json() == {
        "type": "InvalidSessionToken",
        "details": {"message": "Authentication required.", "reason": "no_session"},
    }
    assert api["WWW-Authenticate"] == 'Bearer realm="byo_sessions"'
    page = client.get("/protected/?tab=2")
    assert page.status_code == 302 and page["Location"] == f"{settings.LOGIN_URL}?next=/protected/%3Ftab%3D2"


def test_login_url_names_where_pages_are_sent(client):
    response = client.get("/custom-login-url/")
    assert response.status_code == 302 and response["Location"] == "/sign-in/?next=/custom-login-url/"


def test_a_session_of_an_outside_user_is_not_a_logged_in_django_user(db):
    """The session server's string-id owners have valid sessions but no Django user."""
    token = sessions.create(external_user_id="ext-1").data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/whoami/").json()["session_id"]  # the session itself is valid
    assert api.get("/protected/").status_code == 401


def test_without_the_byo_engine_request_user_decides(rf, user):
    """Outside our middleware (a project on another engine, a unit test), ``request.user`` decides."""
    view = login_required(_answer)
    anonymous = rf.get("/page/")
    anonymous.user = AnonymousUser()
    assert view(anonymous).status_code == 302
    known = rf.get("/page/")
    known.user = user
    response = view(known)
    assert response.status_code == 200 and json.loads(response.content) == {"user": "alice"}


def test_decorators_keep_the_view_and_mark_it():
    def account(request: HttpRequest) -> JsonResponse:
        return _answer(request)

    view = login_required(device_verification_required(account))
    assert view.__name__ == "account" and view.__wrapped__ is account
    assert view.byo_device_required is True  # the marker survives the wrapper the middleware sees
    assert not hasattr(login_required(_answer), "byo_device_required")
