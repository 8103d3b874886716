"""Device binding (services/devices.py) through the services and over HTTP (docs/devices.md).
The device decorators are in tests/test_decorators.py, the challenge endpoint in
tests/drf/test_views.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from byo_sessions import DeviceRegistration, DeviceVerification, ErrorType, is_err, is_ok, sessions, signals
from byo_sessions.conf import byo_settings
from byo_sessions.core import dpop
from byo_sessions.core.dpop import access_token_hash
from byo_sessions.models import AuditEvent, Device, Session, TagPolicy, UsedProof
from byo_sessions.services import devices
from tests.concurrency import run_in_parallel
from tests.constants import IP, UA
from tests.dpop_signer import OMIT, TestDevice

pytestmark = pytest.mark.django_db

LOGIN_URL = "http://testserver/login/"
API_URL = "http://testserver/device-api/"
REGISTER_URL = "http://testserver/devices/register"


def cookie_name() -> str:
    return byo_settings.cookie_name


def audit_mark() -> int:
    """The newest audit row id, so a test can list exactly the rows one call wrote."""
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def audit_since(mark: int) -> list[tuple[str, str]]:
    return [(r.event_type, r.reason) for r in AuditEvent.objects.filter(pk__gt=mark).order_by("id")]


def challenge(ip: str = IP, ua: str = UA) -> str:
    return sessions.device.create_challenge(ip_address=ip, user_agent=ua).data.device_challenge


def proof(
    device: TestDevice, clock, method: str = "GET", url: str = API_URL, nonce: str | None = None, **kwargs
) -> str:
    return device.proof(
        method, url, nonce if nonce is not None else challenge(), iat=int(clock.now().timestamp()), **kwargs
    )


def api_proof(device: TestDevice, clock) -> DeviceVerification:
    """A fresh proof for ``GET API_URL``, as a request would carry it (kept to be replayed)."""
    return DeviceVerification(signed_device_challenge=proof(device, clock), request_url=API_URL, request_method="GET")


def login(user, device: TestDevice, clock, *, remember: bool = True, ip: str = IP, tags=None):
    registration = DeviceRegistration(
        signed_device_challenge=proof(device, clock, "POST", LOGIN_URL, nonce=challenge(ip)),
        remember_device=remember,
        request_url=LOGIN_URL,
        request_method="POST",
    )
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
    bad = DeviceRegistration(
        signed_device_challenge=proof(device, clock, "POST", "http://evil/login/"),
        request_url=LOGIN_URL,
        request_method="POST",
    )
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
    registration = DeviceRegistration(
        signed_device_challenge=proof(device, clock, "POST", LOGIN_URL, nonce=nonce),
        request_url=LOGIN_URL,
        request_method="POST",
    )
    result = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=registration)
    assert result.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    assert result.error.details["reason"] == "challenge_expired"
    assert result.error.details["device_challenge"] and result.error.details["expires_at"] > clock.now().timestamp()


def verify(token, device, clock, **kwargs):
    kwargs.setdefault("ip_address", IP)
    kwargs.setdefault("user_agent", UA)
    signed = proof(device, clock, "GET", API_URL, nonce=challenge(kwargs["ip_address"]))
    return sessions.validate(
        session_token=token,
        device_verification=DeviceVerification(
            signed_device_challenge=signed, request_url=API_URL, request_method="GET"
        ),
        **kwargs,
    )


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
    assert (
        sessions.validate(session_token=bound.session_token, ip_address=IP, user_agent=UA).error.type
        == ErrorType.DEVICE_VERIFICATION_REQUIRED
    )
    assert is_ok(verify(bound.session_token, device, clock))
    assert is_ok(
        sessions.validate(
            session_token=bound.session_token, ip_address=IP, user_agent=UA, ignore_device_for_verification=True
        )
    )


# A proved request: the session row and the proof's jti. PostgreSQL records the jti in the
# statement that reads the session (selectors.session_recording_proof), one query; SQLite
# has no data-modifying CTE, so the INSERT is a second one.
_PROVED_READ = 1 if connection.vendor == "postgresql" else 2


def _proof_spent(dv: DeviceVerification) -> bool:
    """The proof's replay key is stored (whichever statement stored it)."""
    peeked = dpop.peek_replay_key(dv.signed_device_challenge)
    return peeked is not None and UsedProof.objects.filter(jti_hash=peeked[1]).exists()


def test_reused_proof_is_refused(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    signed = proof(device, clock)
    dv = DeviceVerification(signed_device_challenge=signed, request_url=API_URL, request_method="GET")
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
    again = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert again.error.type == ErrorType.DEVICE_VERIFICATION_FAILED and again.error.details["reason"] == "jti_reused"


@pytest.mark.django_db(transaction=True)  # autocommit, as a request outside ATOMIC_REQUESTS
def test_reused_proof_is_refused_outside_a_transaction(user, clock, django_assert_num_queries):
    """With no transaction open, a proof costs one INSERT (no BEGIN/COMMIT); its replay is
    refused and the connection stays usable."""
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    dv = api_proof(device, clock)
    with django_assert_num_queries(_PROVED_READ) as captured:
        assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
    assert _proof_spent(dv)
    if _PROVED_READ == 2:
        assert captured.captured_queries[1]["sql"].startswith("INSERT")
    again = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert again.error.type == ErrorType.DEVICE_VERIFICATION_FAILED and again.error.details["reason"] == "jti_reused"
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA))


def test_reused_proof_inside_a_transaction_needs_no_savepoint(user, clock, django_assert_num_queries):
    """Inside a transaction (ATOMIC_REQUESTS, a caller's atomic block) the jti INSERT skips a
    conflict instead of failing: no SAVEPOINT round trips, and after a refused replay the
    transaction still works."""
    from django.db import transaction

    device = TestDevice()
    token = login(user, device, clock).data.session_token
    dv = api_proof(device, clock)
    with transaction.atomic():
        with django_assert_num_queries(_PROVED_READ) as captured:
            assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
        assert "SAVEPOINT" not in " ".join(q["sql"] for q in captured.captured_queries)
        with django_assert_num_queries(_PROVED_READ + 2) as captured:  # + the refusal's audit row (check, insert)
            again = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
        assert again.error.details["reason"] == "jti_reused"
        assert "SAVEPOINT" not in " ".join(q["sql"] for q in captured.captured_queries)
        assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA))
    assert UsedProof.objects.count() == 2  # the login's registration proof and this one, once


def test_a_proof_signed_by_another_key_is_refused_and_spends_nothing(user, clock):
    """A stolen cookie with a proof from the thief's own key: refused, and nothing is recorded
    (the read records a proof only for the key the session is bound to)."""
    token = login(user, TestDevice(), clock).data.session_token
    dv = api_proof(TestDevice(), clock)
    refused = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert refused.error.details["reason"] == "unrecognised_device"
    assert not _proof_spent(dv)


def test_a_proof_with_the_previous_token_in_its_grace_is_spent_once(user, clock, settings):
    """The old token (within ROTATION_GRACE_SECS) is not the current one, so the read that
    records proofs finds no row for it: the proof is then spent by its own INSERT, not
    refused as a replay, and a replay of it is."""
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 60, "ROTATION_GRACE_SECS": 30}
    device = TestDevice()
    old = login(user, device, clock).data.session_token
    clock.advance(61)
    assert sessions.validate_and_refresh(session_token=old, ip_address=IP, user_agent=UA).data.new_session_token
    dv = api_proof(device, clock)
    assert is_ok(sessions.validate(session_token=old, ip_address=IP, user_agent=UA, device_verification=dv))
    assert _proof_spent(dv)
    again = sessions.validate(session_token=old, ip_address=IP, user_agent=UA, device_verification=dv)
    assert again.error.details["reason"] == "jti_reused"


def test_ip_change_under_challenge_policy(user, clock):
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    device = TestDevice()
    token = login(user, device, clock, tags=["org:acme"]).data.session_token
    new_ip = "203.0.113.50"
    asked = sessions.validate(session_token=token, ip_address=new_ip, user_agent=UA)
    assert asked.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED and asked.error.details["reason"] == "ip_changed"
    # A proof over a challenge issued for the old IP is not enough either.
    stale = sessions.validate(
        session_token=token,
        ip_address=new_ip,
        user_agent=UA,
        device_verification=(
            DeviceVerification(
                signed_device_challenge=proof(device, clock, nonce=challenge(IP)),
                request_url=API_URL,
                request_method="GET",
            )
        ),
    )
    assert stale.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    fresh = asked.error.details["device_challenge"]
    answered = sessions.validate(
        session_token=token,
        ip_address=new_ip,
        user_agent=UA,
        device_verification=(
            DeviceVerification(
                signed_device_challenge=proof(device, clock, nonce=fresh), request_url=API_URL, request_method="GET"
            )
        ),
    )
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
    result = sessions.device.register(
        signed_device_challenge=proof(device, clock, "POST", url),
        remember_device=True,
        session_token=token,
        request_url=url,
        request_method="POST",
        ip_address=IP,
        user_agent=UA,
    )
    assert is_ok(result) and result.data is True
    again = sessions.device.register(
        signed_device_challenge=proof(device, clock, "POST", url),
        remember_device=True,
        session_token=token,
        request_url=url,
        request_method="POST",
        ip_address=IP,
        user_agent=UA,
    )
    assert again.error.type == ErrorType.DEVICE_ALREADY_REGISTERED
    assert is_ok(verify(token, device, clock))
    missing = sessions.device.register(signed_device_challenge="x", remember_device=True, session_id="ses_nope")
    assert missing.error.type == ErrorType.SESSION_NOT_FOUND


# --- over HTTP: the middleware and hostile proofs -----------------------------------------------------------


@pytest.fixture
def device_client(user, clock, settings):
    settings.BYO_SESSIONS = {}
    device = TestDevice()
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    nonce = client.get("/byo/device/challenge").json()["deviceChallenge"]
    response = client.post(
        "/login/", {"username": "alice", "device_proof": proof(device, clock, "POST", LOGIN_URL, nonce=nonce)}
    )
    assert response.status_code == 200
    return client, device


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


def _spent(client: Client, device: TestDevice, clock) -> str:
    """A proof the device already used once (200): sending it again is a replay."""
    signed = proof(device, clock)
    assert client.get("/device-api/", HTTP_DPOP=signed).status_code == 200
    return signed


def _expired_challenge(device: TestDevice, clock) -> str:
    nonce = challenge()
    clock.advance(301)  # DEVICE_CHALLENGE_TTL_SECS is 300
    return proof(device, clock, nonce=nonce)


def _hostile(name: str, client: Client, device: TestDevice, clock) -> str:
    now = int(clock.now().timestamp())
    nonce = challenge()
    good = device.proof("GET", API_URL, nonce, iat=now)
    h, c, s = good.split(".")
    builders: dict[str, Callable[[], str]] = {
        "alg_none": lambda: device.proof("GET", API_URL, nonce, iat=now, alg="none"),
        "alg_hs256": lambda: device.proof("GET", API_URL, nonce, iat=now, alg="HS256"),
        "alg_rs256": lambda: device.proof("GET", API_URL, nonce, iat=now, alg="RS256"),
        "typ_wrong": lambda: device.proof("GET", API_URL, nonce, iat=now, header_overrides={"typ": "JWT"}),
        "typ_missing": lambda: device.proof("GET", API_URL, nonce, iat=now, header_overrides={"typ": OMIT}),
        "jwk_with_d": lambda: device.proof(
            "GET", API_URL, nonce, iat=now, header_overrides={"jwk": {**device.jwk, "d": "AAAA"}}
        ),
        "oct_key": lambda: device.proof(
            "GET", API_URL, nonce, iat=now, header_overrides={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}
        ),
        "p384_alg_es384": lambda: TestDevice("P-384").proof("GET", API_URL, nonce, iat=now, alg="ES384"),
        # alg passes; the P-384 jwk is what the curve check refuses.
        "p384_key_alg_es256": lambda: TestDevice("P-384").proof("GET", API_URL, nonce, iat=now, alg="ES256"),
        "other_method": lambda: device.proof("POST", API_URL, nonce, iat=now),
        "other_url": lambda: device.proof("GET", "http://testserver/elsewhere/", nonce, iat=now),
        "iat_future": lambda: device.proof("GET", API_URL, nonce, iat=now + 3600),
        "iat_old": lambda: device.proof("GET", API_URL, nonce, iat=now - 3600),
        "forged_challenge": lambda: device.proof("GET", API_URL, nonce[:-4] + "AAAA", iat=now),
        "expired_challenge": lambda: _expired_challenge(device, clock),
        "challenge_other_ip": lambda: device.proof("GET", API_URL, challenge("192.0.2.1"), iat=now),
        "no_nonce": lambda: device.proof("GET", API_URL, None, iat=now),
        "malformed_base64": lambda: f"{h}.{c}!!.{s}",
        "der_signature": lambda: device.proof("GET", API_URL, nonce, iat=now, der_signature=True),
        "oversized": lambda: device.proof("GET", API_URL, nonce, iat=now, claim_overrides={"pad": "x" * 9000}),
        "two_headers": lambda: f"{good}, {good}",
        "missing_jti": lambda: device.proof("GET", API_URL, nonce, iat=now, claim_overrides={"jti": OMIT}),
        "reused_jti": lambda: _spent(client, device, clock),
    }
    return builders[name]()


_FAILED = (401, "DeviceVerificationFailed", "device_verification_failed")
_AGAIN = (425, "NewDeviceChallengeRequired", "device_challenge_issued")
# name -> (status, error type, audit event, reason)
HOSTILE = {
    "alg_none": (*_FAILED, "bad_alg"),
    "alg_hs256": (*_FAILED, "bad_alg"),
    "alg_rs256": (*_FAILED, "bad_alg"),
    "typ_wrong": (*_FAILED, "bad_typ"),
    "typ_missing": (*_FAILED, "bad_typ"),
    "jwk_with_d": (*_FAILED, "private_key_in_jwk"),
    "oct_key": (*_FAILED, "bad_key"),
    "p384_alg_es384": (*_FAILED, "bad_alg"),
    "p384_key_alg_es256": (*_FAILED, "bad_key"),
    "other_method": (*_FAILED, "htm_mismatch"),
    "other_url": (*_FAILED, "htu_mismatch"),
    "forged_challenge": (*_FAILED, "challenge_forged"),
    "malformed_base64": (*_FAILED, "malformed"),
    "der_signature": (*_FAILED, "bad_signature"),
    "oversized": (*_FAILED, "too_large"),
    "two_headers": (*_FAILED, "multiple_headers"),
    "missing_jti": (*_FAILED, "missing_claim"),
    "reused_jti": (*_FAILED, "jti_reused"),
    "iat_old": (*_AGAIN, "iat_too_old"),
    "iat_future": (*_AGAIN, "iat_in_future"),
    "expired_challenge": (*_AGAIN, "challenge_expired"),
    "challenge_other_ip": (*_AGAIN, "ip_changed"),
    "no_nonce": (*_AGAIN, "missing_challenge"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_proofs_over_http_are_typed_and_audited_once(device_client, clock, name):
    client, device = device_client
    status, error_type, event, reason = HOSTILE[name]
    signed = _hostile(name, client, device, clock)
    mark = audit_mark()
    response = client.get("/device-api/", HTTP_DPOP=signed, HTTP_ACCEPT="application/json")
    assert response.status_code == status, (name, response.content)
    body = response.json()
    assert (body["type"], body["details"]["reason"]) == (error_type, reason)
    assert audit_since(mark) == [(event, reason)]
    assert client.get("/device-api/", HTTP_DPOP=proof(device, clock)).status_code == 200  # session unharmed


def test_stolen_cookie_with_another_key_is_refused(device_client, clock):
    client, device = device_client
    thief = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    thief.cookies[cookie_name()] = client.cookies[cookie_name()].value
    response = thief.get("/device-api/", HTTP_DPOP=proof(TestDevice(), clock), HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["details"]["reason"] == "unrecognised_device"


def test_challenges_survive_a_secret_key_rotation(user, clock, settings):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    nonce = challenge()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    dv = DeviceVerification(
        signed_device_challenge=proof(device, clock, nonce=nonce), request_url=API_URL, request_method="GET"
    )
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))
    settings.SECRET_KEY_FALLBACKS = []
    dv = DeviceVerification(
        signed_device_challenge=proof(device, clock, nonce=nonce), request_url=API_URL, request_method="GET"
    )
    forged = sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)
    assert forged.error.type == ErrorType.DEVICE_VERIFICATION_FAILED
    assert forged.error.details["reason"] == "challenge_forged"


def test_non_standard_method_is_compared_as_sent(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    dv = DeviceVerification(
        signed_device_challenge=proof(device, clock, "patch"), request_url=API_URL, request_method="patch"
    )
    assert is_ok(sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv))


def test_page_navigation_after_an_ip_change_is_not_a_raw_425(user, clock, settings):
    settings.BYO_SESSIONS = {}
    TagPolicy.objects.create(selector="org:*", on_ip_address_change="challenge")
    device = TestDevice()
    token = login(user, device, clock, tags=["org:acme"]).data.session_token
    page = Client(REMOTE_ADDR="203.0.113.60", HTTP_USER_AGENT=UA)
    page.cookies[cookie_name()] = token
    response = page.get("/protected/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert page.get("/whoami/").json() == {"user": None, "session_id": None, "error": "NewDeviceChallengeRequired"}
    api = page.get("/protected/", HTTP_ACCEPT="application/json")
    assert api.status_code == 425 and api.json()["deviceChallenge"]


# --- refused registrations are audited (login and device.register) -------------------------------------------


def _registration_proof(name: str, device: TestDevice, clock, url: str, spend: Callable[[str], Any]) -> str:
    now = int(clock.now().timestamp())
    nonce = challenge()
    builders: dict[str, Callable[[], str]] = {
        "alg_none": lambda: device.proof("POST", url, nonce, iat=now, alg="none"),
        "jwk_with_d": lambda: device.proof(
            "POST", url, nonce, iat=now, header_overrides={"jwk": {**device.jwk, "d": "AAAA"}}
        ),
        "forged_challenge": lambda: device.proof("POST", url, nonce[:-4] + "AAAA", iat=now),
        "der_signature": lambda: device.proof("POST", url, nonce, iat=now, der_signature=True),
        "reused_jti": lambda: spend(device.proof("POST", url, nonce, iat=now)),
        "wrong_htu": lambda: device.proof("POST", "http://testserver/elsewhere/", nonce, iat=now),
    }
    return builders[name]()


REGISTRATION_HOSTILE = {
    "alg_none": "bad_alg",
    "jwk_with_d": "private_key_in_jwk",
    "forged_challenge": "challenge_forged",
    "der_signature": "bad_signature",
    "reused_jti": "jti_reused",
    "wrong_htu": "htu_mismatch",
}


def _audit_lines(caplog) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == byo_settings.AUDIT_LOGGER]


@pytest.mark.parametrize("name", list(REGISTRATION_HOSTILE))
def test_hostile_proof_at_login_is_refused_and_audited(user, clock, caplog, django_capture_on_commit_callbacks, name):
    reason = REGISTRATION_HOSTILE[name]
    device = TestDevice()

    def spend(signed: str) -> str:
        first = sessions.create(
            user_id=user.pk,
            ip_address=IP,
            user_agent=UA,
            device_registration=DeviceRegistration(
                signed_device_challenge=signed, request_url=LOGIN_URL, request_method="POST"
            ),
        )
        assert is_ok(first)
        return signed

    signed = _registration_proof(name, device, clock, LOGIN_URL, spend)
    live_sessions, mark = Session.objects.count(), audit_mark()
    with (
        caplog.at_level(logging.INFO, logger=byo_settings.AUDIT_LOGGER),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = sessions.create(
            user_id=user.pk,
            ip_address=IP,
            user_agent=UA,
            device_registration=(
                DeviceRegistration(signed_device_challenge=signed, request_url=LOGIN_URL, request_method="POST")
            ),
        )
    assert is_err(result) and result.error.type == ErrorType.INVALID_DEVICE_REGISTRATION
    assert result.error.details["reason"] == reason
    assert audit_since(mark) == [("device_verification_failed", reason)]  # the refused create left only this
    row = AuditEvent.objects.get(pk__gt=mark)
    assert (row.user_ref, row.ip_address, row.user_agent, row.session_id) == (str(user.pk), IP, UA, "")
    assert row.details == {"error": "InvalidDeviceRegistration", "during": "login"}
    assert Session.objects.count() == live_sessions
    assert [(line["event"], line["reason"]) for line in _audit_lines(caplog)] == [
        ("device_verification_failed", reason)
    ]


@pytest.mark.parametrize("name", list(REGISTRATION_HOSTILE))
def test_hostile_proof_at_register_is_refused_and_audited(user, clock, name):
    reason = REGISTRATION_HOSTILE[name]
    device = TestDevice()
    target = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data

    def spend(signed: str) -> str:
        other = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
        assert is_ok(
            sessions.device.register(
                signed_device_challenge=signed,
                remember_device=True,
                session_id=other.session_id,
                request_url=REGISTER_URL,
                request_method="POST",
                ip_address=IP,
                user_agent=UA,
            )
        )
        return signed

    signed = _registration_proof(name, device, clock, REGISTER_URL, spend)
    mark = audit_mark()
    result = sessions.device.register(
        signed_device_challenge=signed,
        remember_device=True,
        session_token=target.session_token,
        request_url=REGISTER_URL,
        request_method="POST",
        ip_address=IP,
        user_agent=UA,
    )
    assert is_err(result) and result.error.type == ErrorType.INVALID_DEVICE_REGISTRATION
    assert result.error.details["reason"] == reason
    assert audit_since(mark) == [("device_verification_failed", reason)]
    row = AuditEvent.objects.get(pk__gt=mark)
    assert (row.session_id, row.user_ref, row.ip_address, row.user_agent) == (target.session_id, str(user.pk), IP, UA)
    assert row.details == {"error": "InvalidDeviceRegistration", "during": "register"}
    assert Session.objects.get(pk=target.session_id).device_id is None


def test_stale_proof_at_login_is_audited_as_a_challenge(user, clock):
    nonce = challenge()
    clock.advance(301)
    mark = audit_mark()
    result = sessions.create(
        user_id=user.pk,
        ip_address=IP,
        user_agent=UA,
        device_registration=DeviceRegistration(
            signed_device_challenge=proof(TestDevice(), clock, "POST", LOGIN_URL, nonce=nonce),
            request_url=LOGIN_URL,
            request_method="POST",
        ),
    )
    assert result.error.type == ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED
    assert audit_since(mark) == [("device_challenge_issued", "challenge_expired")]


def test_registration_is_audited(user, clock):
    device = TestDevice()
    created = login(user, device, clock).data
    row = AuditEvent.objects.get(event_type="device_registered")
    assert (row.session_id, row.user_ref, row.ip_address, row.user_agent) == (created.session_id, str(user.pk), IP, UA)
    assert row.details == {"device_id": created.device_id, "new": True}

    later = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data
    assert is_ok(
        sessions.device.register(
            signed_device_challenge=proof(device, clock, "POST", REGISTER_URL),
            remember_device=True,
            session_token=later.session_token,
            request_url=REGISTER_URL,
            request_method="POST",
            ip_address=IP,
            user_agent=UA,
        )
    )
    row = AuditEvent.objects.filter(event_type="device_registered", session_id=later.session_id).get()
    assert (row.user_ref, row.ip_address, row.user_agent) == (str(user.pk), IP, UA)
    assert row.details == {"device_id": created.device_id, "new": False}  # the same key, remembered


# --- device.register needs a session that validate would accept ---------------------------------------------


def _register(token: str, clock) -> Any:
    return sessions.device.register(
        signed_device_challenge=proof(TestDevice(), clock, "POST", REGISTER_URL),
        remember_device=True,
        session_token=token,
        request_url=REGISTER_URL,
        request_method="POST",
        ip_address=IP,
        user_agent=UA,
    )


def test_register_refuses_a_session_past_its_inactivity_timeout(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    clock.advance(byo_settings.INACTIVITY_TIMEOUT_SECS + 1)
    assert _register(token, clock).error.type == ErrorType.SESSION_NOT_FOUND
    assert not Device.objects.exists()


def test_register_uses_the_current_policy_expiry(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, tags=["role:temp"]).data.session_token
    TagPolicy.objects.create(selector="role:temp", absolute_lifetime_secs=600)  # shortened after login
    clock.advance(601)
    assert _register(token, clock).error.type == ErrorType.SESSION_NOT_FOUND


def test_register_refuses_an_inactive_user(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert _register(token, clock).error.type == ErrorType.SESSION_NOT_FOUND


def test_register_accepts_a_live_session(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    clock.advance(byo_settings.INACTIVITY_TIMEOUT_SECS - 60)
    assert is_ok(_register(token, clock))


# --- long User-Agents --------------------------------------------------------------------------------------

LONG_UA = (UA + " " + "x" * 1300)[:1300]


def test_long_user_agent_matches_its_challenge(user, clock):
    device = TestDevice()
    nonce = sessions.device.create_challenge(ip_address=IP, user_agent=LONG_UA).data.device_challenge
    created = sessions.create(
        user_id=user.pk,
        ip_address=IP,
        user_agent=LONG_UA,
        device_registration=(
            DeviceRegistration(
                signed_device_challenge=proof(device, clock, "POST", LOGIN_URL, nonce=nonce),
                request_url=LOGIN_URL,
                request_method="POST",
            )
        ),
    )
    assert is_ok(created), created
    verified = sessions.validate(
        session_token=created.data.session_token,
        ip_address=IP,
        user_agent=LONG_UA,
        device_verification=DeviceVerification(
            signed_device_challenge=proof(device, clock, nonce=challenge(ua=LONG_UA)),
            request_url=API_URL,
            request_method="GET",
        ),
    )
    assert is_ok(verified), verified
    later = sessions.create(user_id=user.pk, ip_address=IP, user_agent=LONG_UA).data
    registered = sessions.device.register(
        signed_device_challenge=proof(device, clock, "POST", REGISTER_URL, nonce=challenge(ua=LONG_UA)),
        remember_device=True,
        session_token=later.session_token,
        request_url=REGISTER_URL,
        request_method="POST",
        ip_address=IP,
        user_agent=LONG_UA,
    )
    assert is_ok(registered), registered


def test_long_user_agent_logs_in_with_a_device_over_http(user, clock, settings):
    settings.BYO_SESSIONS = {}
    device = TestDevice()
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=LONG_UA)
    nonce = client.get("/byo/device/challenge").json()["deviceChallenge"]
    response = client.post(
        "/login/", {"username": "alice", "device_proof": proof(device, clock, "POST", LOGIN_URL, nonce=nonce)}
    )
    assert response.status_code == 200, response.content
    assert Session.objects.get().device_thumbprint == device.thumbprint


# --- ath: a proof may name the session token it is sent with (RFC 9449 §4.2) --------------------------------


def _with_ath(device: TestDevice, clock, token: str, method: str = "GET", url: str = API_URL) -> str:
    return proof(device, clock, method, url, claim_overrides={"ath": access_token_hash(token)})


def test_ath_must_name_the_presented_session_token(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token

    def check(signed: str) -> Any:
        return sessions.validate(
            session_token=token,
            ip_address=IP,
            user_agent=UA,
            device_verification=(
                DeviceVerification(signed_device_challenge=signed, request_url=API_URL, request_method="GET")
            ),
        )

    assert is_ok(check(_with_ath(device, clock, token)))
    other = login(user, device, clock).data.session_token
    mark = audit_mark()
    refused = check(_with_ath(device, clock, other))
    assert refused.error.type == ErrorType.DEVICE_VERIFICATION_FAILED
    assert refused.error.details["reason"] == "ath_mismatch"
    assert audit_since(mark) == [("device_verification_failed", "ath_mismatch")]
    assert is_ok(check(proof(device, clock)))  # ath is optional (cookie clients cannot hash their cookie)


def test_ath_at_register(user, clock):
    device = TestDevice()
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    other = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token

    def register(signed: str) -> Any:
        return sessions.device.register(
            signed_device_challenge=signed,
            remember_device=True,
            session_token=token,
            request_url=REGISTER_URL,
            request_method="POST",
            ip_address=IP,
            user_agent=UA,
        )

    refused = register(_with_ath(device, clock, other, "POST", REGISTER_URL))
    assert refused.error.type == ErrorType.INVALID_DEVICE_REGISTRATION
    assert refused.error.details["reason"] == "ath_mismatch"
    assert is_ok(register(_with_ath(device, clock, token, "POST", REGISTER_URL)))


def test_bearer_client_sends_ath_over_http(device_client, clock):
    client, device = device_client
    token = client.cookies[cookie_name()].value
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    ok = api.get("/device-api/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_DPOP=_with_ath(device, clock, token))
    assert ok.status_code == 200, ok.content
    mark = audit_mark()
    wrong = api.get(
        "/device-api/",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_DPOP=_with_ath(device, clock, token[:-1] + ("A" if token[-1] != "A" else "B")),
    )
    assert wrong.status_code == 401 and wrong.json()["details"]["reason"] == "ath_mismatch"
    missing = api.get("/device-api/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_DPOP=proof(device, clock))
    assert missing.status_code == 401 and missing.json()["details"]["reason"] == "ath_missing"
    assert audit_since(mark) == [
        ("device_verification_failed", "ath_mismatch"),
        ("device_verification_failed", "ath_missing"),
    ]


def test_ath_of_the_previous_token_is_refused_once_rotated(user, clock, settings):
    """The proof names the token it travels with; the session's previous token is not that."""
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 60, "ROTATION_GRACE_SECS": 30}
    device = TestDevice()
    old = login(user, device, clock).data.session_token
    clock.advance(61)
    new = sessions.validate_and_refresh(
        session_token=old,
        ip_address=IP,
        user_agent=UA,
        device_verification=(api_proof(device, clock)),
    ).data.new_session_token
    assert new
    clock.advance(3600)
    refused = sessions.validate(
        session_token=new,
        ip_address=IP,
        user_agent=UA,
        device_verification=(
            DeviceVerification(
                signed_device_challenge=_with_ath(device, clock, old), request_url=API_URL, request_method="GET"
            )
        ),
    )
    assert refused.error.details["reason"] == "ath_mismatch"


def test_cookie_session_ignores_an_ath_that_names_the_authorization_token(device_client, clock):
    """A cookie session with a stateless JWT in Authorization (which the session layer
    leaves alone): device.js puts the JWT's hash in ``ath``; that is not the session's to check."""
    client, device = device_client
    jwt_value = sessions.create_stateless_token(session_id=Session.objects.get().pk).data.stateless_token
    response = client.get(
        "/device-api/", HTTP_AUTHORIZATION=f"Bearer {jwt_value}", HTTP_DPOP=_with_ath(device, clock, jwt_value)
    )
    assert response.status_code == 200, response.content


# --- concurrency (PostgreSQL, real threads) ------------------------------------------------


def _register_call(token: str, signed: str) -> Callable[[], Any]:
    return lambda: sessions.device.register(
        signed_device_challenge=signed,
        remember_device=True,
        session_token=token,
        request_url=REGISTER_URL,
        request_method="POST",
        ip_address=IP,
        user_agent=UA,
    )


def _run_all(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once, one per thread (each carries its own single-use proof)."""
    queue = iter(calls)
    lock = threading.Lock()

    def next_call() -> Any:
        with lock:
            call = next(queue)
        return call()

    results = run_in_parallel(len(calls), next_call)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_of_one_session_bind_one_device(user, clock):
    token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    devices_ = [TestDevice() for _ in range(8)]
    results = _run_all([_register_call(token, proof(d, clock, "POST", REGISTER_URL)) for d in devices_])
    assert sum(is_ok(r) for r in results) == 1
    assert all(r.error.type == ErrorType.DEVICE_ALREADY_REGISTERED for r in results if is_err(r))
    assert Device.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="device_registered").count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_of_one_key_make_one_device_row(user, clock):
    device = TestDevice()
    tokens = [sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token for _ in range(6)]
    results = _run_all([_register_call(t, proof(device, clock, "POST", REGISTER_URL)) for t in tokens])
    assert all(is_ok(r) for r in results), results
    assert sorted(r.data for r in results) == [False] * 5 + [True]  # "new device" once
    assert Device.objects.count() == 1
    assert Session.objects.filter(device__isnull=False).count() == 6


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_logins_from_one_new_device_report_it_once(user, clock):
    device = TestDevice()
    registrations = [
        DeviceRegistration(
            signed_device_challenge=proof(device, clock, "POST", LOGIN_URL),
            remember_device=True,
            request_url=LOGIN_URL,
            request_method="POST",
        )
        for _ in range(6)
    ]
    results = _run_all(
        [
            (lambda r=r: sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA, device_registration=r))
            for r in registrations
        ]
    )
    assert all(is_ok(r) for r in results), results
    assert sorted(r.data.new_device_detected for r in results) == [False] * 5 + [True]
    assert Device.objects.count() == 1


def test_an_unknown_ath_rule_is_refused_at_construction():
    with pytest.raises(ValueError, match="ath_rule"):
        DeviceVerification(signed_device_challenge="x", ath_rule="Required")  # type: ignore[arg-type]


def _repeat_over_http(client: Client, times: int, **headers: str) -> set[int]:
    return {client.get("/device-api/", HTTP_ACCEPT="application/json", **headers).status_code for _ in range(times)}


@pytest.mark.parametrize("name", ["junk", "no_nonce", "none"])
def test_a_repeated_refused_proof_is_one_row_per_minute_and_a_line_each_time(
    device_client, clock, caplog, django_capture_on_commit_callbacks, name
):
    """Junk in DPoP (401), a proof that only earns a new challenge (425), no proof at all
    (401 DeviceVerificationRequired): the session is unchanged, so the client may repeat it at
    will; the audit table must not grow with it."""
    client, device = device_client
    headers = {
        "junk": {"HTTP_DPOP": "junk"},
        "none": {},
        "no_nonce": {"HTTP_DPOP": device.proof("GET", API_URL, None, iat=int(clock.now().timestamp()))},
    }[name]
    status, event, reason = {
        "junk": (401, "device_verification_failed", "malformed"),
        "none": (401, "validation_failed", "missing_proof"),
        "no_nonce": (425, "device_challenge_issued", "missing_challenge"),
    }[name]
    mark = audit_mark()
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    with django_capture_on_commit_callbacks(execute=True):
        assert _repeat_over_http(client, 50, **headers) == {status}
    rows = AuditEvent.objects.filter(pk__gt=mark)
    assert audit_since(mark) == [(event, reason)]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "byo_sessions.audit"]
    assert len(lines) == 50 and {(line["ip"], line["ua"]) for line in lines} == {(IP, UA)}
    clock.advance(61)
    assert _repeat_over_http(client, 3, **headers) == {status}
    assert rows.count() == 2
    assert client.get("/device-api/", HTTP_DPOP=proof(device, clock)).status_code == 200  # session unharmed


# --- devices_of / revoke (the self-service API's "my devices") -----------------------------


def test_devices_of_and_revoke_for_an_outside_owner(clock):
    """The session server's owners (external ids) have devices too; revoking is owner-scoped."""
    device = TestDevice()
    registration = DeviceRegistration(
        signed_device_challenge=proof(device, clock, "POST", LOGIN_URL),
        remember_device=True,
        request_url=LOGIN_URL,
        request_method="POST",
    )
    created = sessions.create(
        external_user_id="ext-1", ip_address=IP, user_agent=UA, device_registration=registration
    ).data
    listed = devices.devices_of(external_user_id="ext-1").data
    assert [d.pk for d in listed] == [created.device_id]
    assert devices.devices_of(external_user_id="ext-2").data == []
    assert (
        devices.revoke(device_id=created.device_id, external_user_id="ext-2").error.type == ErrorType.DEVICE_NOT_FOUND
    )
    assert devices.revoke(device_id=created.device_id, external_user_id="ext-1").data == 1
    assert not Device.objects.exists() and Session.objects.get(pk=created.session_id).ended_at is not None
    assert (
        devices.revoke(device_id=created.device_id, external_user_id="ext-1").error.type == ErrorType.DEVICE_NOT_FOUND
    )  # gone


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({}, ErrorType.UNKNOWN_USER),
        ({"user_id": 1, "external_user_id": "x"}, ErrorType.UNKNOWN_USER),
        ({"user_id": "not-a-pk"}, ErrorType.UNKNOWN_USER),
        ({"external_user_id": ""}, ErrorType.UNKNOWN_USER),
    ],
)
def test_devices_of_and_revoke_refuse_bad_owners(kwargs, error):
    assert devices.devices_of(**kwargs).error.type == error
    assert devices.revoke(device_id="dev_x", **kwargs).error.type == error


@pytest.mark.parametrize("device_id", ["", "x" * 41, "a\x00b", None, 7])
def test_revoke_refuses_ids_that_name_no_device_without_a_query(user, device_id, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert devices.revoke(device_id=device_id, user_id=user.pk).error.type == ErrorType.DEVICE_NOT_FOUND


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_one_proof_sent_by_parallel_requests_is_accepted_once(user, clock):
    """Replays racing the honest request (the jti recorded in the session read): one wins."""
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    dv = api_proof(device, clock)
    call = lambda: sessions.validate(session_token=token, ip_address=IP, user_agent=UA, device_verification=dv)  # noqa: E731
    results = _run_all([call] * 8)
    assert sum(is_ok(r) for r in results) == 1
    assert sorted({r.error.details["reason"] for r in results if is_err(r)}) == ["jti_reused"]
