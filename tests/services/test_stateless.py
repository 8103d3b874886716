"""Stateless tokens: creation from live sessions, verification against the PyJWT
pitfalls, the key life cycle (lazy first key, rotation, expiry), encryption at rest,
JWKS (function and HTTP), DRF authentication and query counts."""
from __future__ import annotations

import base64
import json
from io import StringIO

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from byo_sessions import is_ok, sessions
from byo_sessions.drf.authentication import SessionTokenAuthentication
from byo_sessions.drf.jwt_authentication import StatelessTokenAuthentication
from byo_sessions.checks import check_settings
from byo_sessions.models import AuditEvent, SigningKey
from byo_sessions.values import ErrorType
from tests.concurrency import run_in_parallel
from byo_sessions.services import signing_keys
from tests import urls as base_urls

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.services.test_stateless")]


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


urlpatterns = [path("drf/jwt-me/", JwtMe.as_view()), *base_urls.urlpatterns]


@pytest.fixture(autouse=True)
def fresh_keys():
    signing_keys.forget_cached()
    yield
    signing_keys.forget_cached()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(header: dict, claims: dict, sign=None) -> str:
    """A compact JWS with any header; ``sign(signing_input) -> bytes`` (default: no signature)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode())) if sign else ''}"


def active_private_key():
    return signing_keys.signing_key().private_key()


def claims_for(clock, **overrides):
    now = int(clock.now().timestamp())
    claims = {"iss": "byo_sessions", "aud": "byo_sessions", "sub": "u1", "iat": now, "nbf": now, "exp": now + 60,
              "jti": "j1"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(clock, header=None, **claims):
    key = signing_keys.signing_key()
    head = {"typ": "at+jwt", "kid": key.kid, **(header or {})}
    return jwt.encode(claims_for(clock, **claims), key.private_key(), algorithm="RS256", headers=head)


def reason(result):
    assert result.__class__.__name__ == "Err", result
    assert result.error.type == ErrorType.INVALID_STATELESS_TOKEN
    return result.error.details["reason"]


# --- creation --------------------------------------------------------------------------

def test_token_from_a_session_carries_the_registered_claims(user, clock):
    created = sessions.create(user_id=user.pk).data
    result = sessions.create_stateless_token(session_id=created.session_id, custom_claims={"role": "admin"})
    token = result.data
    header = jwt.get_unverified_header(token.stateless_token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": token.key_id}
    claims = sessions.verify_stateless_token(token.stateless_token).data
    now = int(clock.now().timestamp())
    assert claims["sub"] == str(user.pk) and claims["sid"] == created.session_id
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 300)
    assert claims["iss"] == claims["aud"] == "byo_sessions" and claims["role"] == "admin" and claims["jti"]
    assert int(token.expires_at.timestamp()) == now + 300
    assert "stateless_token" not in repr(token) and token.stateless_token not in repr(token)


def test_token_from_a_session_token_and_for_an_external_user(clock):
    created = sessions.create(external_user_id="ext-7").data
    by_token = sessions.create_stateless_token(session_token=created.session_token, external_user_id="ext-7")
    assert sessions.verify_stateless_token(by_token.data.stateless_token).data["sid"] == created.session_id
    plain = sessions.create_stateless_token(external_user_id="ext-9", lifetime_secs=60,
                                            issuer="https://auth.example", audience="api")
    claims = sessions.verify_stateless_token(plain.data.stateless_token, audience="api",
                                             issuer="https://auth.example").data
    assert claims["sub"] == "ext-9" and "sid" not in claims and claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("end", ["invalidate", "expire"])
def test_a_dead_session_gets_no_token(user, clock, end):
    created = sessions.create(user_id=user.pk).data
    if end == "invalidate":
        sessions.invalidate_by_id(session_id=created.session_id)
        expected = ErrorType.SESSION_INVALIDATED
    else:
        clock.advance(15 * 24 * 3600)
        expected = ErrorType.SESSION_EXPIRED
    result = sessions.create_stateless_token(session_id=created.session_id)
    assert result.error.type == expected
    by_token = sessions.create_stateless_token(session_token=created.session_token)
    assert by_token.error.type in (ErrorType.SESSION_INVALIDATED, ErrorType.SESSION_EXPIRED)


def test_session_must_belong_to_the_named_user(user, other_user):
    created = sessions.create(user_id=user.pk).data
    assert sessions.create_stateless_token(session_id=created.session_id, user_id=other_user.pk).error.type \
        == ErrorType.SESSION_NOT_FOUND
    assert sessions.create_stateless_token(session_id="ses_nope").error.type == ErrorType.SESSION_NOT_FOUND


def test_inactive_or_unknown_users_get_no_token(user):
    user.is_active = False
    user.save()
    assert sessions.create_stateless_token(user_id=user.pk).error.type == ErrorType.USER_INACTIVE
    assert sessions.create_stateless_token(user_id=999999).error.type == ErrorType.UNKNOWN_USER
    assert sessions.create_stateless_token().error.type == ErrorType.UNKNOWN_USER


@pytest.mark.parametrize("claims", [{"sub": "admin"}, {"exp": 9999999999}, {"iss": "x", "role": "r"}, {"sid": "s"},
                                    {"aud": "other"}, {"jti": "fixed"}])
def test_custom_claims_cannot_override_registered_ones(claims):
    error = sessions.create_stateless_token(external_user_id="u", custom_claims=claims).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == "reserved_claims"


@pytest.mark.parametrize("kwargs, why", [
    ({"lifetime_secs": 0}, "bad_lifetime"),
    ({"lifetime_secs": 3601}, "bad_lifetime"),
    ({"lifetime_secs": True}, "bad_lifetime"),
    ({"custom_claims": ["x"]}, "custom_claims_not_object"),
    ({"custom_claims": {"x": float("nan")}}, "custom_claims_not_json"),
    ({"custom_claims": {"x": "y" * 20000}}, "custom_claims_too_large"),
    ({"issuer": ""}, "bad_issuer"),
    ({"not_before_unixtime": "soon"}, "bad_nbf"),
])
def test_bad_parameters_are_typed(kwargs, why):
    error = sessions.create_stateless_token(external_user_id="u", **kwargs).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == why


def test_not_before_must_come_before_expiry(clock):
    now = int(clock.now().timestamp())
    error = sessions.create_stateless_token(external_user_id="u", not_before_unixtime=now + 300).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == "bad_nbf"
    later = sessions.create_stateless_token(external_user_id="u", not_before_unixtime=now + 30).data
    assert reason(sessions.verify_stateless_token(later.stateless_token)) == "not_yet_valid"
    clock.advance(30)
    assert sessions.verify_stateless_token(later.stateless_token).data["nbf"] == now + 30


def test_lifetime_defaults_follow_settings(settings, clock):
    settings.BYO_SESSIONS = {"STATELESS_TOKEN_LIFETIME_SECS": 90, "STATELESS_TOKEN_ISSUER": "https://i",
                             "STATELESS_TOKEN_AUDIENCE": "a"}
    claims = sessions.verify_stateless_token(
        sessions.create_stateless_token(external_user_id="u").data.stateless_token).data
    assert claims["exp"] - claims["iat"] == 90 and (claims["iss"], claims["aud"]) == ("https://i", "a")


# --- verification: the PyJWT pitfalls --------------------------------------------------

def test_alg_none_is_refused(clock):
    kid = signing_keys.signing_key().kid
    token = forge({"alg": "none", "typ": "at+jwt", "kid": kid}, claims_for(clock))
    assert reason(sessions.verify_stateless_token(token)) == "bad_alg"


def test_hs256_with_the_public_key_as_secret_is_refused(clock):
    key = signing_keys.signing_key()
    for secret in (key.public_key.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo),
                   json.dumps(key.jwk).encode(),
                   key.public_key.public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)):
        def sign(data: bytes, secret=secret) -> bytes:
            mac = hmac.HMAC(secret, hashes.SHA256())
            mac.update(data)
            return mac.finalize()

        token = forge({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, claims_for(clock), sign)
        assert reason(sessions.verify_stateless_token(token)) == "bad_alg"


def test_pinned_algorithm_even_without_the_header_precheck(clock, monkeypatch):
    """If the header check were lost, PyJWT's algorithms=["RS256"] still refuses HS256."""
    monkeypatch.setattr(signing_keys, "ALGORITHM", "HS256")
    key = signing_keys.signing_key()
    secret = key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    mac = hmac.HMAC(secret, hashes.SHA256())
    token = forge({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, claims_for(clock),
                  lambda data: (mac.update(data), mac.finalize())[1])
    monkeypatch.undo()
    assert reason(sessions.verify_stateless_token(token)) in ("bad_alg", "invalid")


@pytest.mark.parametrize("typ", [None, "JWT", "dpop+jwt", "at+jwt2"])
def test_wrong_typ_is_refused(clock, typ):
    token = signed(clock, header={"typ": typ} if typ else {"typ": None})
    assert reason(sessions.verify_stateless_token(token)) == "bad_typ"


def test_application_at_jwt_typ_is_accepted(clock):
    assert sessions.verify_stateless_token(signed(clock, header={"typ": "application/at+jwt"})).data["sub"] == "u1"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "jti", "sub"])
def test_missing_required_claims_are_refused(clock, claim):
    result = sessions.verify_stateless_token(signed(clock, **{claim: None}))
    assert reason(result) == "missing_claim" and result.error.details["claim"] == claim


@pytest.mark.parametrize("claims, why", [
    ({"aud": "someone-else"}, "bad_audience"),
    ({"aud": ["someone-else"]}, "bad_audience"),
    ({"iss": "https://evil.example"}, "bad_issuer"),
    ({"exp": "never"}, "bad_claim"),
    ({"sub": 42}, "bad_claim"),
])
def test_wrong_audience_issuer_and_claim_types(clock, claims, why):
    assert reason(sessions.verify_stateless_token(signed(clock, **claims))) == why


def test_audience_and_issuer_arguments_are_checked():
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    assert reason(sessions.verify_stateless_token(token, audience="api")) == "bad_audience"
    assert reason(sessions.verify_stateless_token(token, issuer="https://other")) == "bad_issuer"


def test_unknown_kid_is_refused_without_a_query(clock, django_assert_num_queries):
    sessions.verify_stateless_token(signed(clock))  # warm
    for kid, why in (("key_unknown", "unknown_kid"), ("absent", "unknown_kid"), (None, "malformed"), (7, "malformed")):
        header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
        if kid == "absent":
            del header["kid"]
        token = forge(header, claims_for(clock), lambda data: b"sig")
        with django_assert_num_queries(0):
            assert reason(sessions.verify_stateless_token(token)) == why


def test_expiry_and_future_times(clock):
    token = signed(clock)
    clock.advance(59)
    assert sessions.verify_stateless_token(token).data
    clock.advance(1)
    assert reason(sessions.verify_stateless_token(token)) == "expired"
    now = int(clock.now().timestamp())
    assert reason(sessions.verify_stateless_token(signed(clock, nbf=now + 6))) == "not_yet_valid"
    assert sessions.verify_stateless_token(signed(clock, nbf=now + 5)).data  # clock skew
    assert reason(sessions.verify_stateless_token(signed(clock, iat=now + 60))) == "issued_in_future"


def test_tampered_payload_and_signature(clock):
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    head, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["sub"] = "admin"
    assert reason(sessions.verify_stateless_token(f"{head}.{b64(json.dumps(claims).encode())}.{signature}")) \
        == "bad_signature"
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert reason(sessions.verify_stateless_token(f"{head}.{payload}.{flipped}")) == "bad_signature"


def test_a_token_signed_by_another_key_with_our_kid_is_refused(clock):
    from cryptography.hazmat.primitives.asymmetric import rsa

    kid = signing_keys.signing_key().kid
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims_for(clock), stranger, algorithm="RS256", headers={"typ": "at+jwt", "kid": kid})
    assert reason(sessions.verify_stateless_token(token)) == "bad_signature"


@pytest.mark.parametrize("token", [None, "", "a.b", "a.b.c.d", "x" * 40000, "!!.??.**", "x\ud800.a.b", "é.a.b"])
def test_malformed(token):
    assert reason(sessions.verify_stateless_token(token)) == "malformed"


# --- keys ------------------------------------------------------------------------------

def test_first_key_is_created_once_and_audited():
    sessions.create_stateless_token(external_user_id="u")
    sessions.create_stateless_token(external_user_id="v")
    signing_keys.forget_cached()
    sessions.create_stateless_token(external_user_id="w")
    assert SigningKey.objects.count() == 1
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_CREATED)
    assert event.details["kid"] == SigningKey.objects.get().kid


def test_private_key_is_encrypted_at_rest_and_follows_secret_key_fallbacks(settings):
    key = signing_keys.signing_key()
    row = SigningKey.objects.get()
    assert row.private_key_encrypted.startswith("v1:")
    pem = key.private_key().private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
    assert b64(pem)[:40] not in row.private_key_encrypted and "BEGIN" not in row.private_key_encrypted
    assert set(row.public_jwk) == {"kty", "kid", "use", "alg", "n", "e"}
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    assert signing_keys.decrypt_private_key(row.private_key_encrypted, row.kid).private_numbers() \
        == key.private_key().private_numbers()
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(signing_keys.KeyDecryptionError) as raised:
        signing_keys.decrypt_private_key(row.private_key_encrypted, row.kid)
    assert row.kid in str(raised.value)
    settings.SECRET_KEY = old
    with pytest.raises(signing_keys.KeyDecryptionError):  # the kid is the associated data: rows cannot swap
        signing_keys.decrypt_private_key(row.private_key_encrypted, "key_other")


def test_reencrypt_moves_keys_to_the_new_secret_key_so_the_fallback_can_go(settings):
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    row = SigningKey.objects.get()
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    out = StringIO()
    call_command("byo_rotate_keys", "--reencrypt", stdout=out)
    assert f"Re-encrypted 1 key(s) under the current SECRET_KEY: {row.kid}." in out.getvalue()
    assert SigningKey.objects.get().private_key_encrypted != row.private_key_encrypted
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED)
    assert event.details == {"kids": [row.kid]} and event.actor == "manage.py byo_rotate_keys"
    settings.SECRET_KEY_FALLBACKS = []
    assert is_ok(sessions.verify_stateless_token(token))
    assert is_ok(sessions.create_stateless_token(external_user_id="u"))  # signs with the re-encrypted key
    assert sessions.reencrypt_signing_keys().data == []  # already under the current key: nothing to do, no event
    assert AuditEvent.objects.filter(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED).count() == 1


def test_reencrypt_is_all_or_nothing_when_a_key_cannot_be_decrypted(settings):
    signing_keys.signing_key()
    first = SigningKey.objects.get()
    sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=0,
                                        secs_before_existing_keys_are_deactivated=100000)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    settings.SECRET_KEY_FALLBACKS = [old]
    SigningKey.objects.exclude(kid=first.kid).update(
        private_key_encrypted=first.private_key_encrypted)  # sealed for another kid: decrypts with nothing
    before = dict(SigningKey.objects.values_list("kid", "private_key_encrypted"))
    with pytest.raises(CommandError, match="Nothing was re-encrypted"):
        call_command("byo_rotate_keys", "--reencrypt", stdout=StringIO())
    assert dict(SigningKey.objects.values_list("kid", "private_key_encrypted")) == before
    assert not AuditEvent.objects.filter(event_type=AuditEvent.Type.SIGNING_KEY_REENCRYPTED).exists()


def test_rotation_publishes_next_key_then_switches_then_expires_old(clock):
    first = sessions.create_stateless_token(external_user_id="u").data
    rotation = sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=600,
                                                   secs_before_existing_keys_are_deactivated=600 + 3600).data
    now = clock.now()
    assert int(rotation.new_key_becomes_default_at.timestamp()) == int(now.timestamp()) + 600
    kids = [k["kid"] for k in sessions.get_jwks().data["keys"]]
    assert kids == [rotation.new_key_id, first.key_id]  # next key published at once
    assert sessions.create_stateless_token(external_user_id="u").data.key_id == first.key_id
    clock.advance(600)
    second = sessions.create_stateless_token(external_user_id="u").data
    assert second.key_id == rotation.new_key_id
    assert sessions.verify_stateless_token(second.stateless_token).data
    states = {row.kid: signing_keys.key_state(row) for row in SigningKey.objects.all()}
    assert states == {first.key_id: "retired", rotation.new_key_id: "active"}
    clock.advance(3600)
    assert [k["kid"] for k in sessions.get_jwks().data["keys"]] == [rotation.new_key_id]
    signing_keys.forget_cached()
    assert reason(sessions.verify_stateless_token(first.stateless_token)) in ("unknown_kid", "expired")
    assert signing_keys.key_state(SigningKey.objects.get(kid=first.key_id)) == "expired"
    event = AuditEvent.objects.get(event_type=AuditEvent.Type.SIGNING_KEY_ROTATED)
    assert event.details["kid"] == rotation.new_key_id and event.details["existing_kids"] == [first.key_id]
    assert "private" not in json.dumps(event.details)


def test_a_token_signed_just_before_the_switch_verifies_until_its_expiry(clock):
    sessions.create_stateless_token(external_user_id="u")
    sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=60,
                                        secs_before_existing_keys_are_deactivated=60 + 3600)
    clock.advance(59)
    last = sessions.create_stateless_token(external_user_id="u", lifetime_secs=3600).data
    clock.advance(3599)
    assert sessions.verify_stateless_token(last.stateless_token).data  # old key still verifies
    clock.advance(1)
    signing_keys.forget_cached()
    assert reason(sessions.verify_stateless_token(last.stateless_token)) in ("expired", "unknown_kid")


@pytest.mark.parametrize("becomes, deactivate, why", [
    (-1, 4000, "out_of_range"), (0, -5, "out_of_range"), ("60", 4000, "out_of_range"), (True, 4000, "out_of_range"),
    (600, 600 + 3599, "deactivation_too_early"), (0, 0, "deactivation_too_early"),
])
def test_rotation_parameters_are_validated(becomes, deactivate, why):
    error = sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=becomes,
                                                secs_before_existing_keys_are_deactivated=deactivate).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == why
    assert SigningKey.objects.count() == 0


def test_a_shorter_existing_end_is_kept(clock):
    sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=0,
                                        secs_before_existing_keys_are_deactivated=3600)
    sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=0,
                                        secs_before_existing_keys_are_deactivated=7200)
    ends = sorted((row.serial, row.expires_at) for row in SigningKey.objects.all())
    now = clock.now()
    assert [(e - now).total_seconds() if e else None for _, e in ends] == [3600, 7200, None]


def test_rotate_command(clock, capsys):
    call_command("byo_rotate_keys", "--secs-before-new-key-becomes-default", "60")
    out = capsys.readouterr().out
    new = SigningKey.objects.order_by("-serial").first()
    assert new.kid in out and "next" in out and "active" in out
    assert (new.becomes_default_at - clock.now()).total_seconds() == 60
    old = SigningKey.objects.order_by("serial").first()
    assert (old.expires_at - clock.now()).total_seconds() == 60 + 3600 + 300
    with pytest.raises(CommandError, match="InvalidParameters"):
        call_command("byo_rotate_keys", "--secs-before-new-key-becomes-default", "60",
                     "--secs-before-existing-keys-are-deactivated", "61")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.live_clock
def test_concurrent_first_use_creates_one_key():
    results = run_in_parallel(8, lambda: sessions.create_stateless_token(external_user_id="u"))
    assert all(is_ok(r) for r in results), results
    assert SigningKey.objects.count() == 1
    assert len({jwt.get_unverified_header(r.data.stateless_token)["kid"] for r in results}) == 1


# --- JWKS, DRF, middleware, checks -----------------------------------------------------

def test_jwks_view(client, django_assert_num_queries):
    kid = signing_keys.signing_key().kid
    with django_assert_num_queries(0):
        response = client.get("/byo/.well-known/jwks.json")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=300"
    (jwk,) = response.json()["keys"]
    assert jwk["kid"] == kid and set(jwk) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")
    assert client.post("/byo/.well-known/jwks.json").status_code == 405
    verifier = jwt.PyJWK.from_dict(jwk, algorithm="RS256")
    token = sessions.create_stateless_token(external_user_id="u").data.stateless_token
    assert jwt.decode(token, verifier.key, algorithms=["RS256"], audience="byo_sessions")["sub"] == "u"


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


@pytest.mark.parametrize("settings_value, error_id", [
    ({"STATELESS_TOKEN_LIFETIME_SECS": 0}, "byo_sessions.E014"),
    ({"STATELESS_TOKEN_LIFETIME_SECS": 7200}, "byo_sessions.E014"),
    ({"STATELESS_TOKEN_MAX_LIFETIME_SECS": 10**6}, "byo_sessions.E014"),
    ({"STATELESS_TOKEN_ISSUER": ""}, "byo_sessions.E015"),
    ({"STATELESS_TOKEN_AUDIENCE": None}, "byo_sessions.E015"),
    ({"STATELESS_KEY_REFRESH_SECS": 0}, "byo_sessions.E016"),
])
def test_checks(settings, settings_value, error_id):
    settings.BYO_SESSIONS = settings_value
    assert {e.id for e in check_settings()} == {error_id}


def test_default_settings_pass_the_checks(settings):
    settings.BYO_SESSIONS = {}
    assert check_settings() == []


def test_admin_shows_no_private_key(client, django_user_model):
    django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.com")
    assert client.post("/admin/login/", {"username": "root", "password": "pw-root-123"}).status_code == 302
    admin_client = client
    signing_keys.signing_key()
    row = SigningKey.objects.get()
    listing = admin_client.get("/admin/byo_sessions/signingkey/")
    assert listing.status_code == 200 and row.kid in listing.content.decode()
    page = admin_client.get(f"/admin/byo_sessions/signingkey/{row.pk}/change/")
    assert page.status_code == 200
    assert row.private_key_encrypted[3:40] not in page.content.decode() and "active" in page.content.decode()
    assert admin_client.get("/admin/byo_sessions/signingkey/add/").status_code == 403


def test_an_expired_key_stops_verifying_even_from_a_warm_cache(settings, clock):
    settings.BYO_SESSIONS = {"STATELESS_TOKEN_MAX_LIFETIME_SECS": 60, "STATELESS_TOKEN_LIFETIME_SECS": 60,
                             "STATELESS_KEY_REFRESH_SECS": 300}
    old = signing_keys.signing_key()
    sessions.rotate_stateless_token_key(secs_before_new_key_becomes_default=0,
                                        secs_before_existing_keys_are_deactivated=60)
    now = int(clock.now().timestamp())
    # A token we would never issue (exp past the key's end), signed by the old key.
    late = jwt.encode(claims_for(clock, exp=now + 600), old.private_key(), algorithm="RS256",
                      headers={"typ": "at+jwt", "kid": old.kid})
    assert sessions.verify_stateless_token(late).data  # warms the cache; the old key is retired, not expired
    clock.advance(60)
    assert reason(sessions.verify_stateless_token(late)) == "unknown_kid"
    assert old.kid not in [k["kid"] for k in sessions.get_jwks().data["keys"]]


def test_a_jwt_bearer_is_not_mistaken_for_a_session_token(user, caplog):
    import logging

    from django.test import Client

    from byo_sessions import sessions as api

    token = api.create_stateless_token(user_id=user.pk).data.stateless_token
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/whoami/")
    assert response.json()["error"] is None  # the session side left it alone
    assert "malformed_token" not in caplog.text


def test_prune_deletes_long_expired_signing_keys(clock):
    import io

    from django.core.management import call_command

    from byo_sessions import sessions as api
    from byo_sessions.models import SigningKey

    api.create_stateless_token(user_id=None, external_user_id="u1")  # creates the first key
    first = SigningKey.objects.get()
    SigningKey.objects.filter(pk=first.pk).update(expires_at=clock.now())
    clock.advance(31 * 86400)
    out = io.StringIO()
    call_command("byo_prune", "--days", "30", stdout=out)
    assert "1 expired signing key(s)" in out.getvalue()
    assert not SigningKey.objects.filter(pk=first.pk).exists()
