"""CreateStatelessToken, GetJwks and RotateStatelessTokenKey through the real
``propelauth-byo`` client: answers parse, errors land in each command's union, and a
token verifies offline with the JWKS the server hands out."""

from __future__ import annotations

import jwt
import pytest
from django.db import OperationalError

from byo_sessions import sessions
from byo_sessions.models import SigningKey
from byo_sessions.services import signing_keys
from tests.server.conftest import IP, UA, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.server.urls")]


def ok(result):
    assert result.__class__.__name__ == "Ok", result
    return result.data


def error_of(result):
    assert result.__class__.__name__ == "Err", result
    return result.error


def test_token_from_a_session_verifies_with_the_jwks(byo, clock):
    created = ok(run(byo.session.create(user_id="u1", ip_address=IP, user_agent=UA)))
    token = ok(
        run(
            byo.session.create_stateless_token(
                user_id="u1",
                session_id=created.session_id,
                custom_claims={"plan": "pro"},
                audience="api",
                lifetime_secs=120,
            )
        )
    )
    assert token.expires_at == int(clock.now().timestamp()) + 120
    jwks = ok(run(byo.session.get_jwks()))
    (key,) = jwks.keys
    assert (key.kty, key.use, key.alg) == ("RSA", "sig", "RS256")
    verifier = jwt.PyJWK.from_dict(key._to_request(), algorithm="RS256")
    claims = jwt.decode(
        token.stateless_token, verifier.key, algorithms=["RS256"], audience="api", issuer="byo_sessions"
    )
    assert (claims["sub"], claims["sid"], claims["plan"]) == ("u1", created.session_id, "pro")
    assert jwt.get_unverified_header(token.stateless_token)["kid"] == key.kid
    assert sessions.verify_stateless_token(token.stateless_token, audience="api").data["sub"] == "u1"


def test_creation_failures_are_token_creation_failed(byo):
    created = ok(run(byo.session.create(user_id="u1", ip_address=IP, user_agent=UA)))
    other = error_of(run(byo.session.create_stateless_token(user_id="u2", session_id=created.session_id)))
    assert other.type == "TokenCreationFailed" and other.details.startswith("SessionNotFound")
    run(byo.session.invalidate_by_id(session_id=created.session_id))
    dead = error_of(run(byo.session.create_stateless_token(user_id="u1", session_id=created.session_id)))
    assert dead.type == "TokenCreationFailed" and dead.details.startswith("SessionInvalidated")
    reserved = error_of(run(byo.session.create_stateless_token(user_id="u1", custom_claims={"sub": "root"})))
    assert reserved.type == "TokenCreationFailed" and "reserved_claims" in reserved.details
    too_long = error_of(run(byo.session.create_stateless_token(user_id="u1", lifetime_secs=10**6)))
    assert too_long.type == "TokenCreationFailed" and "bad_lifetime" in too_long.details


def test_rotation(byo, clock):
    first = ok(run(byo.session.create_stateless_token(user_id="u1")))
    rotation = ok(run(byo.session.rotate_stateless_token_key(600, 600 + 3600)))
    now = int(clock.now().timestamp())
    assert (rotation.new_key_becomes_default_at, rotation.existing_keys_expire_at) == (now + 600, now + 4200)
    kids = [k.kid for k in ok(run(byo.session.get_jwks())).keys]
    assert kids[0] == rotation.new_key_id and len(kids) == 2
    assert SigningKey.objects.filter(kid=rotation.new_key_id).exists()
    assert jwt.get_unverified_header(first.stateless_token)["kid"] in kids

    bad = error_of(run(byo.session.rotate_stateless_token_key(600, 601)))
    assert bad.type == "InvalidParameters" and "deactivation_too_early" in bad.details
    negative = error_of(run(byo.session.rotate_stateless_token_key(-1, 4000)))
    assert negative.type == "InvalidParameters"


def test_raw_wire_shapes(post):
    status, body = post({"command": "GetJwks", "data": {}})
    assert (
        status == 200
        and body == {"keys": []}
        or all(set(k) == {"kty", "kid", "use", "alg", "n", "e"} for k in body["keys"])
    )
    status, body = post({"command": "RotateStatelessTokenKey", "data": {"secsBeforeNewKeyBecomesDefault": 0}})
    assert (
        status == 400
        and body["type"] == "UnexpectedError"
        and "secsBeforeExistingKeysAreDeactivated" in body["details"]
    )
    status, body = post({"command": "CreateStatelessToken", "data": {"userId": "u", "lifetimeSecs": "60"}})
    assert status == 400 and body["type"] == "TokenCreationFailed"
    status, body = post({"command": "CreateStatelessToken", "data": {"userId": "u"}})
    assert status == 200 and set(body) == {"statelessToken", "expiresAt"}


def test_signing_keys_unreadable_answer_503_unexpected_error(post, clock, monkeypatch):
    """The database is down and this process holds no key set: every stateless command
    answers its union's ``UnexpectedError`` with 503 (not ``TokenCreationFailed``, not a
    409 ``RotationFailed``, not a 500)."""
    assert post({"command": "CreateStatelessToken", "data": {"userId": "u"}})[0] == 200
    signing_keys.forget_cached()

    def down(now):
        raise OperationalError("connection refused")

    monkeypatch.setattr(signing_keys, "_unexpired_rows", down)
    for command, data in [
        ("GetJwks", {}),
        ("CreateStatelessToken", {"userId": "u"}),
        (
            "RotateStatelessTokenKey",
            {"secsBeforeNewKeyBecomesDefault": 0, "secsBeforeExistingKeysAreDeactivated": 3600},
        ),
    ]:
        status, body = post({"command": command, "data": data})
        assert (status, body["type"]) == (503, "UnexpectedError"), (command, body)
        assert body["cause"]["details"]["reason"] == "key_store_unavailable"
    monkeypatch.undo()
    clock.advance(5)
    assert post({"command": "GetJwks", "data": {}})[0] == 200
