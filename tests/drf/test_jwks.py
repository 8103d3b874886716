"""The JWKS view (drf/jwks.py): public keys of stateless tokens over HTTP, no query."""
from __future__ import annotations

import jwt
import pytest

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
