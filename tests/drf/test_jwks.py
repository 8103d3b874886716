"""The JWKS view (drf/jwks.py): public keys of stateless tokens over HTTP, no query."""

from __future__ import annotations

import jwt
import pytest
from django.db import OperationalError

from byo_sessions import sessions
from byo_sessions.services import signing_keys

pytestmark = pytest.mark.django_db


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


def test_jwks_view_during_a_database_outage(client, clock, monkeypatch):
    kid = signing_keys.signing_key().kid
    monkeypatch.setattr(signing_keys, "_unexpired_rows", raise_operational_error)
    clock.advance(10)  # due for a refresh, which fails: the last good set is served
    response = client.get("/byo/.well-known/jwks.json")
    assert response.status_code == 200 and [k["kid"] for k in response.json()["keys"]] == [kid]
    signing_keys.forget_cached()  # no set ever loaded (a process started during the outage)
    response = client.get("/byo/.well-known/jwks.json")
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["type"] == "UnexpectedError" and body["details"]["reason"] == "key_store_unavailable"
    monkeypatch.undo()
    clock.advance(5)
    response = client.get("/byo/.well-known/jwks.json")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=300"


def raise_operational_error(now):
    raise OperationalError("connection refused")
