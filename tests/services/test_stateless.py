"""Stateless tokens (services/stateless.py): creation from live sessions and verification
against the PyJWT pitfalls. The keys' life cycle is in test_signing_keys.py, the DRF class
in tests/drf/test_jwt_authentication.py, the JWKS view in tests/drf/test_jwks.py."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization

from byo_sessions import sessions
from byo_sessions.services import signing_keys
from byo_sessions.values import ErrorType

pytestmark = pytest.mark.django_db


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
    claims = {
        "iss": "byo_sessions",
        "aud": "byo_sessions",
        "sub": "u1",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "j1",
    }
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
    plain = sessions.create_stateless_token(
        external_user_id="ext-9", lifetime_secs=60, issuer="https://auth.example", audience="api"
    )
    claims = sessions.verify_stateless_token(
        plain.data.stateless_token, audience="api", issuer="https://auth.example"
    ).data
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
    assert (
        sessions.create_stateless_token(session_id=created.session_id, user_id=other_user.pk).error.type
        == ErrorType.SESSION_NOT_FOUND
    )
    assert sessions.create_stateless_token(session_id="ses_nope").error.type == ErrorType.SESSION_NOT_FOUND


def test_inactive_or_unknown_users_get_no_token(user):
    user.is_active = False
    user.save()
    assert sessions.create_stateless_token(user_id=user.pk).error.type == ErrorType.USER_INACTIVE
    assert sessions.create_stateless_token(user_id=999999).error.type == ErrorType.UNKNOWN_USER
    assert sessions.create_stateless_token().error.type == ErrorType.UNKNOWN_USER


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "admin"},
        {"exp": 9999999999},
        {"iss": "x", "role": "r"},
        {"sid": "s"},
        {"aud": "other"},
        {"jti": "fixed"},
    ],
)
def test_custom_claims_cannot_override_registered_ones(claims):
    error = sessions.create_stateless_token(external_user_id="u", custom_claims=claims).error
    assert error.type == ErrorType.INVALID_PARAMETERS and error.details["reason"] == "reserved_claims"


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"lifetime_secs": 0}, "bad_lifetime"),
        ({"lifetime_secs": 3601}, "bad_lifetime"),
        ({"lifetime_secs": True}, "bad_lifetime"),
        ({"custom_claims": ["x"]}, "custom_claims_not_object"),
        ({"custom_claims": {"x": float("nan")}}, "custom_claims_not_json"),
        ({"custom_claims": {"x": "y" * 20000}}, "custom_claims_too_large"),
        ({"issuer": ""}, "bad_issuer"),
        ({"not_before_unixtime": "soon"}, "bad_nbf"),
    ],
)
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
    settings.BYO_SESSIONS = {
        "STATELESS_TOKEN_LIFETIME_SECS": 90,
        "STATELESS_TOKEN_ISSUER": "https://i",
        "STATELESS_TOKEN_AUDIENCE": "a",
    }
    claims = sessions.verify_stateless_token(
        sessions.create_stateless_token(external_user_id="u").data.stateless_token
    ).data
    assert claims["exp"] - claims["iat"] == 90 and (claims["iss"], claims["aud"]) == ("https://i", "a")


# --- verification: the PyJWT pitfalls --------------------------------------------------


def test_alg_none_is_refused(clock):
    kid = signing_keys.signing_key().kid
    token = forge({"alg": "none", "typ": "at+jwt", "kid": kid}, claims_for(clock))
    assert reason(sessions.verify_stateless_token(token)) == "bad_alg"


def test_hs256_with_the_public_key_as_secret_is_refused(clock):
    key = signing_keys.signing_key()
    for secret in (
        key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        json.dumps(key.jwk).encode(),
        key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    ):

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
    token = forge(
        {"alg": "HS256", "typ": "at+jwt", "kid": key.kid},
        claims_for(clock),
        lambda data: (mac.update(data), mac.finalize())[1],
    )
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


@pytest.mark.parametrize(
    "claims, why",
    [
        ({"aud": "someone-else"}, "bad_audience"),
        ({"aud": ["someone-else"]}, "bad_audience"),
        ({"iss": "https://evil.example"}, "bad_issuer"),
        ({"exp": "never"}, "bad_claim"),
        ({"sub": 42}, "bad_claim"),
    ],
)
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
    assert (
        reason(sessions.verify_stateless_token(f"{head}.{b64(json.dumps(claims).encode())}.{signature}"))
        == "bad_signature"
    )
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


def test_a_token_checked_once_still_follows_its_key_and_the_clock(clock):
    """This process remembers tokens whose signature it checked; that must not outlive the
    key (a deleted key's tokens are refused at once) or let the caller change what the
    next request sees."""
    from byo_sessions.models import SigningKey

    token = signed(clock)
    first = sessions.verify_stateless_token(token).data
    first["sub"] = "admin"  # the caller's own copy
    assert sessions.verify_stateless_token(token).data["sub"] == "u1"
    SigningKey.objects.all().delete()
    signing_keys.refresh_soon()
    assert reason(sessions.verify_stateless_token(token)) == "unknown_kid"
