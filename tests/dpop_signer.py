"""Test helper: a software "device" that builds DPoP proofs by hand.

The JWS is assembled from its parts (not with PyJWT) so tests can produce
every malformed variant: wrong headers, missing claims, DER signatures, other
algorithms. Use :data:`OMIT` in ``header_overrides``/``claim_overrides`` to
delete a member.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from byo_sessions.core.dpop import jwk_thumbprint

OMIT: Any = object()

_HASHES = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}
_CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def ec_jwk(key: ec.EllipticCurvePrivateKey, *, private: bool = False) -> dict[str, str]:
    """JWK of an EC key; ``private=True`` adds ``d`` (to test that it is refused)."""
    crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
    size = (key.curve.key_size + 7) // 8
    numbers = key.private_numbers()
    jwk = {
        "kty": "EC",
        "crv": crv,
        "x": b64url(numbers.public_numbers.x.to_bytes(size, "big")),
        "y": b64url(numbers.public_numbers.y.to_bytes(size, "big")),
    }
    if private:
        jwk["d"] = b64url(numbers.private_value.to_bytes(size, "big"))
    return jwk


def _apply(base: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    result = dict(base)
    for name, value in (overrides or {}).items():
        if value is OMIT:
            result.pop(name, None)
        else:
            result[name] = value
    return result


class TestDevice:
    """A P-256 key pair that signs proofs the way device.js does (raw r || s)."""

    __test__ = False  # not a pytest test class

    def __init__(self, curve: str = "P-256") -> None:
        self.private_key = ec.generate_private_key(_CURVES[curve])
        self.jwk = ec_jwk(self.private_key)
        self.thumbprint = jwk_thumbprint(self.jwk)

    def sign(self, signing_input: bytes, *, alg: str = "ES256", der_signature: bool = False) -> bytes:
        """Sign like a JWS implementation would for ``alg`` (or deliberately not)."""
        if alg == "none":
            return b""
        if alg.startswith("HS"):
            # Key-confusion attack: the public x coordinate used as an HMAC secret.
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            return hmac.new(self.jwk["x"].encode("ascii"), signing_input, digest).digest()
        if alg.startswith("RS"):
            rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        if alg.startswith("ES"):
            curve = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
            key = self.private_key
            if key.curve.name != _CURVES[curve].name:
                key = ec.generate_private_key(_CURVES[curve])
            der = key.sign(signing_input, ec.ECDSA(_HASHES[alg]))
            if der_signature:
                return der
            r, s = decode_dss_signature(der)
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        raise ValueError(f"unsupported alg {alg}")

    def proof(
        self,
        method: str,
        url: str,
        nonce: str | None = None,
        *,
        iat: float | None = None,
        jti: str | None = None,
        header_overrides: Mapping[str, Any] | None = None,
        claim_overrides: Mapping[str, Any] | None = None,
        der_signature: bool = False,
        alg: str = "ES256",
    ) -> str:
        """A compact JWS proof for ``method url``; overrides make it wrong on purpose."""
        header = _apply({"typ": "dpop+jwt", "alg": alg, "jwk": dict(self.jwk)}, header_overrides)
        claims: dict[str, Any] = {
            "jti": jti if jti is not None else b64url(secrets.token_bytes(16)),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims = _apply(claims, claim_overrides)
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
        signature = self.sign(signing_input.encode("ascii"), alg=alg, der_signature=der_signature)
        return f"{signing_input}.{b64url(signature)}"
