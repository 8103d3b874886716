"""DRF: SessionTokenAuthentication over cookie (with CSRF) and Bearer, typed errors, 425."""
from __future__ import annotations

import pytest
from django.test import Client

from byo_sessions.core.dpop import access_token_hash
from byo_sessions import sessions
from tests.constants import IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import login, proof

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_cookie(settings):
    settings.BYO_SESSIONS = {}


def test_bearer(user, django_assert_num_queries):
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    api.get("/drf/me/")
    with django_assert_num_queries(1):  # the middleware's validation is reused
        body = api.get("/drf/me/").json()
    assert body["user"] == "alice"
    assert api.post("/drf/me/").status_code == 200  # no CSRF for Bearer


def test_cookie_needs_csrf_on_unsafe_methods(user):
    token = sessions.create(user_id=user.pk).data.session_token
    browser = Client(enforce_csrf_checks=True)
    browser.cookies["session_token"] = token
    assert browser.get("/drf/me/").status_code == 200
    refused = browser.post("/drf/me/")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert refused["Cache-Control"] == "no-store"  # DRF's refusal: the middleware marks it


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer byo_s_" + "A" * 43])
def test_bad_tokens_are_typed_401(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get("/drf/me/")
    assert response.status_code == 401
    assert response.json()["type"] == "InvalidSessionToken"
    assert response["WWW-Authenticate"] == 'Bearer realm="byo_sessions"'
    assert response["Cache-Control"] == "no-store"


def test_anonymous_is_401_from_permission(db):
    assert Client().get("/drf/me/").status_code in (401, 403)


def test_device_required_view_and_425(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    url = "http://testserver/drf/device-me/"
    assert api.get("/drf/device-me/").json()["type"] == "DeviceVerificationRequired"
    bound = {"ath": access_token_hash(token)}  # a Bearer request's proof names its token (RFC 9449)
    assert api.get("/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url, claim_overrides=bound)).status_code == 200
    unbound = api.get("/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url))
    assert unbound.status_code == 401 and unbound.json()["details"]["reason"] == "ath_missing"
    from tests.services.test_devices import challenge

    stale_nonce = challenge()
    clock.advance(301)
    response = api.get("/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url, nonce=stale_nonce,
                                                          claim_overrides=bound))
    assert response.status_code == 425 and response.json()["deviceChallenge"]
