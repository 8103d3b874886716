"""DRF: SessionTokenAuthentication over cookie (with CSRF) and Bearer, typed errors, 425."""

from __future__ import annotations

import pytest
from django.test import Client

from byo_sessions import sessions
from byo_sessions.core.dpop import access_token_hash
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
    response = api.get(
        "/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url, nonce=stale_nonce, claim_overrides=bound)
    )
    assert response.status_code == 425 and response.json()["deviceChallenge"]


def test_device_refusals_carry_the_rfc_9449_headers(user, clock):
    """DRF's 401s answer a DPoP challenge through authenticate_header; its 425 (whose headers
    DRF's exception handler does not write) gets them from the middleware."""
    from tests.services.test_devices import challenge

    device = TestDevice()
    token = login(user, device, clock).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    url = "http://testserver/drf/device-me/"
    bound = {"ath": access_token_hash(token)}
    missing = api.get("/drf/device-me/")
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == 'DPoP algs="ES256"'
    other = api.get("/drf/device-me/", HTTP_DPOP=proof(TestDevice(), clock, url=url, claim_overrides=bound))
    assert other.status_code == 401 and other.json()["type"] == "DeviceVerificationFailed"
    assert other["WWW-Authenticate"] == 'DPoP error="invalid_dpop_proof", algs="ES256"'
    assert "DPoP-Nonce" not in other
    stale_nonce = challenge()
    clock.advance(301)
    again = api.get(
        "/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url, nonce=stale_nonce, claim_overrides=bound)
    )
    assert again.status_code == 425
    assert again["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce", algs="ES256"'
    assert again["DPoP-Nonce"] == again.json()["deviceChallenge"]
    retried = api.get(
        "/drf/device-me/", HTTP_DPOP=proof(device, clock, url=url, nonce=again["DPoP-Nonce"], claim_overrides=bound)
    )
    assert retried.status_code == 200
