"""Device binding through the services and over HTTP (docs/devices.md)."""
from __future__ import annotations

import pytest
from django.test import Client

from byo_sessions import DeviceRegistration, DeviceVerification, ErrorType, is_err, is_ok, sessions, signals
from byo_sessions.models import AuditEvent, Device, Session, TagPolicy
from tests.dpop_signer import OMIT, TestDevice

pytestmark = pytest.mark.django_db

IP = "198.51.100.20"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
LOGIN_URL = "http://testserver/login/"
API_URL = "http://testserver/device-api/"


def challenge(ip: str = IP, ua: str = UA) -> str:
    return sessions.device.create_challenge(ip_address=ip, user_agent=ua).data.device_challenge


def proof(device: TestDevice, clock, method: str = "GET", url: str = API_URL, nonce: str | None = None,
          **kwargs) -> str:
    return device.proof(method, url, nonce if nonce is not None else challenge(), iat=int(clock.now().timestamp()),
                        **kwargs)


def login(user, device: TestDevice, clock, *, remember: bool = True, ip: str = IP, tags=None):
    registration = DeviceRegistration(signed_device_challenge=proof(device, clock, "POST", LOGIN_URL,
                                                                    nonce=challenge(ip)),
                                      remember_device=remember, request_url=LOGIN_URL, request_method="POST")
    return sessions.create(user_id=user.pk, ip_address=ip, user_agent=UA, tags=tags, device_registration=registration)


def test_challenge_is_short_lived_and_bound(clock):
    result = sessions.device.create_challenge(ip_address=IP, user_agent=UA)
    assert is_ok(result)
    assert result.data.expires_at == int(clock.now().timestamp()) + 300
    assert sessions.device.create_challenge(ip_address="nope").error.type == ErrorType.INVALID_IP_ADDRESS


def test_new_device_detected_once_per_key(user, clock, django_capture_on_commit_callbacks):
    seen = []
    signals.new_device_detected.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="nd")
    try:
        device = TestDevice()
        with django_capture_on_commit_callbacks(execute=True):
            first = login(user, device, clock)
        assert is_ok(first) and first.data.new_device_detected is True
        second = login(user, device, clock)
        assert is_ok(second) and second.data.new_device_detected is False
        third = login(user, TestDevice(), clock)
        assert third.data.new_device_detected is True
    finally:
        signals.new_device_detected.disconnect(dispatch_uid="nd")
    assert Device.objects.filter(user=user).count() == 2
    assert [s["user_ref"] for s in seen] == [str(user.pk)]
    assert AuditEvent.objects.filter(event_type="new_device_detected").count() == 2
    row = Session.objects.get(pk=first.data.session_id)
    assert row.device_thumbprint == device.thumbprint


def test_unremembered_device_is_new_again(user, clock):
    device = TestDevice()
    assert login(user, device, clock, remember=False).data.new_device_detected is True
    assert login(user, device, clock, remember=False).data.new_device_detected is True
    assert login(user, device, clock, remember=True).data.new_device_detected is True
    assert login(user, device, clock).data.new_device_detected is False


def test_bad_registration_creates_nothing(user, clock):
    device = TestDevice()
    bad = DeviceRegistration(signed_device_challenge=proof(device, clock, "POST", "http://evil/login/"),
                             request_url=LOGIN_URL, request_method="POST")
    result = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=bad)
    assert is_err(result) and result.error.type == ErrorType.INVALID_DEVICE_REGISTRATION
    assert result.error.details["reason"] == "htu_mismatch"
    assert Session.objects.count() == 0 and Device.objects.count() == 0


def test_replayed_registration_proof_is_refused_and_rolls_back(user, clock):
    device = TestDevice()
    signed = proof(device, clock, "POST", LOGIN_URL)
    registration = DeviceRegistration(signed_device_challenge=signed, request_url=LOGIN_URL, request_method="POST")
    assert is_ok(sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=registration))
    again = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=registration)
    assert again.error.type == ErrorType.INVALID_DEVICE_REGISTRATION and again.error.details["reason"] == "jti_reused"
    assert Session.objects.count() == 1


def test_stale_challenge_at_login_asks_for_a_new_one(user, clock):
    device = TestDevice()
    nonce = challenge()
    clock.advance(301)
    registration = DeviceRegistration(signed_device_challenge=proof(device, clock, "POST", LOGIN_URL, nonce=nonce),
                                      request_url=LOGIN_URL, request_method="POST")
    result = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=registration)
    assert result.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    assert result.error.details["reason"] == "challenge_expired"
    assert result.error.details["device_challenge"] and result.error.details["expires_at"] > clock.now().timestamp()


def verify(token, device, clock, **kwargs):
    kwargs.setdefault("ip_address", IP)
    kwargs.setdefault("user_agent", UA)
    signed = proof(device, clock, "GET", API_URL, nonce=challenge(kwargs["ip_address"]))
    return sessions.validate(session_token=token, device_verification=DeviceVerification(
        signed_device_challenge=signed, request_url=API_URL, request_method="GET"), **kwargs)


def test_per_request_verification(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    ok = verify(token, device, clock)
    assert is_ok(ok) and ok.data.has_device_registered
    other = verify(token, TestDevice(), clock)
    assert other.error.type == ErrorType.DEVICE_VERIFICATION_FAILED
    assert other.error.details["reason"] == "unrecognised_device"
    assert AuditEvent.objects.filter(event_type="device_verification_failed", reason="unrecognised_device").exists()
    # No proof is fine unless the policy or the view asks for one.
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA))
    required = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification_required=True)
    assert required.error.type == ErrorType.DEVICE_VERIFICATION_REQUIRED


def test_policy_requires_device(user, clock):
    TagPolicy.objects.create(selector="role:root", device_verification_required=True)
    plain = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, tags=["role:root"]).data
    result = sessions.validate(session_token=plain.session_token, ip_address=IP, user_agent=UA)
    assert result.error.type == ErrorType.DEVICE_VERIFICATION_REQUIRED
    assert result.error.details["reason"] == "no_device_registered"
    device = TestDevice()
    bound = login(user, device, clock, tags=["role:root"]).data
    assert sessions.validate(session_token=bound.session_token, ip_address=IP, user_agent=UA).error.type == \
        ErrorType.DEVICE_VERIFICATION_REQUIRED
    assert is_ok(verify(bound.session_token, device, clock))
    assert is_ok(sessions.validate(session_token=bound.session_token, ip_address=IP, user_agent=UA,
                                   ignore_device_for_verification=True))


def test_reused_proof_is_refused(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    signed = proof(device, clock)
    dv = DeviceVerification(signed_device_challenge=signed, request_url=API_URL, request_method="GET")
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
    again = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert again.error.type == ErrorType.DEVICE_VERIFICATION_FAILED and again.error.details["reason"] == "jti_reused"


def test_ip_change_under_challenge_policy(user, clock):
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    device = TestDevice()
    token = login(user, device, clock, tags=["org:acme"]).data.session_token
    new_ip = "203.0.113.50"
    asked = sessions.validate(session_token=token, ip_address=new_ip, user_agent=UA)
    assert asked.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED and asked.error.details["reason"] == "ip_changed"
    # A proof over a challenge issued for the old IP is not enough either.
    stale = sessions.validate(session_token=token, ip_address=new_ip, user_agent=UA, device_verification=(
        DeviceVerification(signed_device_challenge=proof(device, clock, nonce=challenge(IP)), request_url=API_URL,
                           request_method="GET")))
    assert stale.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    fresh = asked.error.details["device_challenge"]
    answered = sessions.validate(session_token=token, ip_address=new_ip, user_agent=UA, device_verification=(
        DeviceVerification(signed_device_challenge=proof(device, clock, nonce=fresh), request_url=API_URL,
                           request_method="GET")))
    assert is_ok(answered)
    assert Session.objects.get(token_hash__isnull=False).last_ip_address == new_ip
    assert AuditEvent.objects.filter(event_type="ip_changed", reason="challenge_passed").count() == 1
    assert AuditEvent.objects.filter(event_type="device_challenge_issued").count() >= 1
    assert is_ok(sessions.validate(session_token=token, ip_address=new_ip, user_agent=UA))  # settled


def test_ip_change_challenge_without_device_is_refused(user):
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, tags=["org:acme"]).data.session_token
    result = sessions.validate(session_token=token, ip_address="203.0.113.51", user_agent=UA)
    assert result.error.type == ErrorType.DEVICE_VERIFICATION_REQUIRED


def test_register_after_login(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    device = TestDevice()
    url = "http://testserver/devices/register"
    result = sessions.device.register(signed_device_challenge=proof(device, clock, "POST", url), remember_device=True,
                                      session_token=token, request_url=url, request_method="POST", ip_address=IP,
                                      user_agent=UA)
    assert is_ok(result) and result.data is True
    again = sessions.device.register(signed_device_challenge=proof(device, clock, "POST", url), remember_device=True,
                                     session_token=token, request_url=url, request_method="POST", ip_address=IP,
                                     user_agent=UA)
    assert again.error.type == ErrorType.DEVICE_ALREADY_REGISTERED
    assert is_ok(verify(token, device, clock))
    missing = sessions.device.register(signed_device_challenge="x", remember_device=True, session_id="ses_nope")
    assert missing.error.type == ErrorType.SESSION_NOT_FOUND


# --- over HTTP: the middleware, the challenge endpoint, and hostile proofs ----------------------------------

@pytest.fixture
def device_client(user, clock, settings):
    settings.BYO_SESSIONS = {"COOKIE_SECURE": False}
    device = TestDevice()
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    nonce = client.get("/byo/device/challenge").json()["deviceChallenge"]
    response = client.post("/login/", {"username": "alice", "device_proof": proof(device, clock, "POST", LOGIN_URL,
                                                                                   nonce=nonce)})
    assert response.status_code == 200
    return client, device


def test_challenge_endpoint(client, db):
    body = client.get("/byo/device/challenge").json()
    assert set(body) == {"deviceChallenge", "expiresAt"}
    assert client.get("/byo/device/challenge")["Cache-Control"] == "no-store"


def test_login_form_registers_device(device_client):
    client, device = device_client
    assert Session.objects.get().device_thumbprint == device.thumbprint


def test_device_api_over_http(device_client, clock):
    client, device = device_client
    ok = client.get("/device-api/", HTTP_DPOP=proof(device, clock))
    assert ok.status_code == 200 and ok.json()["user"] == "alice"
    missing = client.get("/device-api/", HTTP_ACCEPT="application/json")
    assert missing.status_code == 401 and missing.json()["type"] == "DeviceVerificationRequired"
    assert client.get("/whoami/").json()["user"] == "alice"  # other views need no proof


def test_stale_challenge_over_http_is_425_with_a_new_challenge(device_client, clock):
    client, device = device_client
    nonce = challenge()
    clock.advance(301)
    response = client.get("/device-api/", HTTP_DPOP=proof(device, clock, nonce=nonce))
    assert response.status_code == 425
    body = response.json()
    assert body["type"] == "NewDeviceChallengeRequired" and body["deviceChallenge"] and body["expiresAt"]
    retry = client.get("/device-api/", HTTP_DPOP=proof(device, clock, nonce=body["deviceChallenge"]))
    assert retry.status_code == 200


def _hostile(device: TestDevice, clock) -> dict[str, str]:
    now = int(clock.now().timestamp())
    nonce = challenge()
    p384 = TestDevice("P-384")
    good = device.proof("GET", API_URL, nonce, iat=now)
    h, c, s = good.split(".")
    return {
        "alg_none": device.proof("GET", API_URL, nonce, iat=now, alg="none"),
        "alg_hs256": device.proof("GET", API_URL, nonce, iat=now, alg="HS256"),
        "alg_rs256": device.proof("GET", API_URL, nonce, iat=now, alg="RS256"),
        "typ_wrong": device.proof("GET", API_URL, nonce, iat=now, header_overrides={"typ": "JWT"}),
        "typ_missing": device.proof("GET", API_URL, nonce, iat=now, header_overrides={"typ": OMIT}),
        "jwk_with_d": device.proof("GET", API_URL, nonce, iat=now, header_overrides={
            "jwk": {**device.jwk, "d": "AAAA"}}),
        "oct_key": device.proof("GET", API_URL, nonce, iat=now, header_overrides={
            "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        "p384_key": p384.proof("GET", API_URL, nonce, iat=now, alg="ES384"),
        "other_method": device.proof("POST", API_URL, nonce, iat=now),
        "other_url": device.proof("GET", "http://testserver/elsewhere/", nonce, iat=now),
        "iat_future": device.proof("GET", API_URL, nonce, iat=now + 3600),
        "forged_challenge": device.proof("GET", API_URL, nonce[:-4] + "AAAA", iat=now),
        "malformed_base64": f"{h}.{c}!!.{s}",
        "der_signature": device.proof("GET", API_URL, nonce, iat=now, der_signature=True),
        "oversized": device.proof("GET", API_URL, nonce, iat=now, claim_overrides={"pad": "x" * 9000}),
        "two_headers": f"{good}, {good}",
        "missing_jti": device.proof("GET", API_URL, nonce, iat=now, claim_overrides={"jti": OMIT}),
        "no_nonce": device.proof("GET", API_URL, None, iat=now),
    }


HOSTILE = ["alg_none", "alg_hs256", "alg_rs256", "typ_wrong", "typ_missing", "jwk_with_d", "oct_key", "p384_key",
           "other_method", "other_url", "iat_future", "forged_challenge", "malformed_base64", "der_signature",
           "oversized", "two_headers", "missing_jti"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_proofs_get_a_typed_401_and_are_audited(device_client, clock, name):
    client, device = device_client
    before = AuditEvent.objects.filter(event_type="device_verification_failed").count()
    response = client.get("/device-api/", HTTP_DPOP=_hostile(device, clock)[name], HTTP_ACCEPT="application/json")
    assert response.status_code == 401, (name, response.content)
    assert response.json()["type"] == "DeviceVerificationFailed"
    assert AuditEvent.objects.filter(event_type="device_verification_failed").count() == before + 1
    assert client.get("/device-api/", HTTP_DPOP=proof(device, clock)).status_code == 200  # session unharmed


@pytest.mark.parametrize("name,reason", [("no_nonce", "missing_challenge")])
def test_proofs_that_need_a_new_challenge(device_client, clock, name, reason):
    client, device = device_client
    response = client.get("/device-api/", HTTP_DPOP=_hostile(device, clock)[name])
    assert response.status_code == 425 and response.json()["details"]["reason"] == reason


def test_expired_proof_iat_is_425(device_client, clock):
    client, device = device_client
    old = device.proof("GET", API_URL, challenge(), iat=int(clock.now().timestamp()) - 3600)
    response = client.get("/device-api/", HTTP_DPOP=old)
    assert response.status_code == 425 and response.json()["details"]["reason"] == "iat_too_old"


def test_challenge_from_another_ip_is_425(device_client, clock):
    client, device = device_client
    response = client.get("/device-api/", HTTP_DPOP=proof(device, clock, nonce=challenge("192.0.2.1")))
    assert response.status_code == 425 and response.json()["details"]["reason"] == "ip_changed"


def test_stolen_cookie_with_another_key_is_refused(device_client, clock):
    client, device = device_client
    thief = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    thief.cookies["byo_session"] = client.cookies["byo_session"].value
    response = thief.get("/device-api/", HTTP_DPOP=proof(TestDevice(), clock), HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["details"]["reason"] == "unrecognised_device"



def test_challenges_survive_a_secret_key_rotation(user, clock, settings):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    nonce = challenge()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    dv = DeviceVerification(signed_device_challenge=proof(device, clock, nonce=nonce), request_url=API_URL,
                            request_method="GET")
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
    settings.SECRET_KEY_FALLBACKS = []
    dv = DeviceVerification(signed_device_challenge=proof(device, clock, nonce=nonce), request_url=API_URL,
                            request_method="GET")
    forged = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert forged.error.type == ErrorType.DEVICE_VERIFICATION_FAILED
    assert forged.error.details["reason"] == "challenge_forged"


def test_non_standard_method_is_compared_as_sent(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    dv = DeviceVerification(signed_device_challenge=proof(device, clock, "patch"), request_url=API_URL,
                            request_method="patch")
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))


def test_page_navigation_after_an_ip_change_is_not_a_raw_425(user, clock, settings):
    settings.BYO_SESSIONS = {"COOKIE_SECURE": False}
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    device = TestDevice()
    token = login(user, device, clock, tags=["org:acme"]).data.session_token
    page = Client(REMOTE_ADDR="203.0.113.60", HTTP_USER_AGENT=UA)
    page.cookies["byo_session"] = token
    response = page.get("/protected/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert page.get("/whoami/").json() == {"user": None, "session_id": None, "error": "NewDeviceChallengeRequired"}
    api = page.get("/protected/", HTTP_ACCEPT="application/json")
    assert api.status_code == 425 and api.json()["deviceChallenge"]
