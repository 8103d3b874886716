"""Verification of DPoP-style device proofs (RFC 9449 proof format).

A browser holds a non-extractable ECDSA P-256 key and signs a short JWT per
request (``typ: dpop+jwt``, ``alg: ES256``, public ``jwk`` in the header,
claims ``jti``, ``htm``, ``htu``, ``iat`` and the server ``nonce``). This
module checks one proof in isolation: format, key, signature, method, URL and
time window. It is pure: no database, no Django settings; everything that is
configurable is an argument. Single use of ``jti``, the nonce (challenge) and
the binding of the thumbprint to a session are the caller's job, done only
after :func:`verify_proof` succeeded so a bad proof cannot burn a real ``jti``.

Every failure is a :class:`ProofError` whose ``reason`` is one of
:data:`PROOF_ERROR_REASONS`:

``missing``            no proof was sent
``multiple_headers``   more than one ``DPoP`` header (RFC 9449 §4.3 check 1)
``too_large``          proof longer than ``max_length``
``malformed``          not one compact JWS of strict base64url JSON objects
                       (also: duplicate JSON members, ``crit``/``b64`` headers)
``bad_typ``            header ``typ`` is not ``dpop+jwt``
``bad_alg``            header ``alg`` is not ``ES256`` (none, MACs, RSA, ...)
``bad_key``            ``jwk`` is not an EC P-256 public key on the curve
``private_key_in_jwk`` ``jwk`` carries a private member (``d``, ...)
``bad_signature``      signature is not 64 raw bytes or does not verify
``missing_claim``      ``jti``, ``htm``, ``htu`` or ``iat`` absent
``bad_claim``          a claim has the wrong type or size (huge ``jti``, ...)
``htm_mismatch``       ``htm`` differs from the request method
``htu_mismatch``       ``htu`` differs from the request URL (after normalising)
``iat_too_old``        ``iat`` older than ``max_age_secs``
``iat_in_future``      ``iat`` later than ``max_future_secs`` ahead
``ath_mismatch``       ``ath`` is not the hash of the presented token (:func:`check_ath`)

``ath`` (RFC 9449 §4.2) is optional: cookie clients cannot read their HttpOnly
cookie to hash it. When present it must be 43 base64url characters here, and
the caller compares it with the token the request presented.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import get_default_algorithms

__all__ = [
    "PROOF_ERROR_REASONS",
    "ProofError",
    "VerifiedProof",
    "access_token_hash",
    "check_ath",
    "extract_proof_header",
    "jwk_thumbprint",
    "normalise_htu",
    "peek_replay_key",
    "replay_key",
    "verify_proof",
]

PROOF_ERROR_REASONS = frozenset(
    {
        "missing",
        "multiple_headers",
        "too_large",
        "malformed",
        "bad_typ",
        "bad_alg",
        "bad_key",
        "private_key_in_jwk",
        "bad_signature",
        "missing_claim",
        "bad_claim",
        "htm_mismatch",
        "htu_mismatch",
        "iat_too_old",
        "iat_in_future",
        "ath_mismatch",
    }
)

PROOF_TYP = "dpop+jwt"
PROOF_ALG = "ES256"
_ES256 = get_default_algorithms()[PROOF_ALG]  # PyJWT's implementation, and only this one
MAX_JTI_LENGTH = 128
MAX_NONCE_LENGTH = 512
_ATH = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest
_COORD_BYTES = 32  # P-256
_ECDSA_SIG_BYTES = 2 * _COORD_BYTES  # raw r || s, as JWS requires
# Private members of EC and RSA JWKs (RFC 7518 §6.2.2, §6.3.2).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_SNIP = 24


class ProofError(Exception):
    """A proof was refused; ``reason`` is a machine code, ``message`` for humans."""

    def __init__(self, reason: str, message: str = "") -> None:
        if reason not in PROOF_ERROR_REASONS:
            raise ValueError(f"unknown proof error reason {reason!r}")
        self.reason = reason
        self.message = message or reason.replace("_", " ")
        super().__init__(f"{reason}: {self.message}")


@dataclass(frozen=True)
class VerifiedProof:
    """What a valid proof establishes; ``thumbprint`` identifies the device.

    ``public_jwk`` is a fresh plain dict (crv, kty, x, y only) so it can be
    stored as JSON; ``htu`` is the normalised URL; ``ath`` the claim as sent
    (checked by the caller with :func:`check_ath`, which knows the token).
    """

    thumbprint: str
    public_jwk: Mapping[str, str]
    jti: str
    nonce: str | None
    iat: int
    htm: str
    htu: str
    ath: str | None = None


def _snip(value: object) -> str:
    """A short, repr-quoted prefix of attacker input, safe for logs and messages."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SNIP:
        return repr(text[:_SNIP]) + "..."
    return repr(text)


def _b64url_decode(segment: str) -> bytes:
    """Strict, canonical base64url without padding (RFC 7515 §2)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # Refuse non-canonical encodings (stray bits in the last character), so one
    # proof has exactly one spelling.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("non-canonical base64url")
    return raw


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON object hook: duplicate members are ambiguous across parsers, refuse them."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {_snip(key)}")
        result[key] = value
    return result


def _json_object(segment: str, what: str) -> Mapping[str, Any]:
    """A segment's JSON object, read-only. Parsed once per process for the last few
    segments: a request's proof is read before it is verified (``peek_replay_key``, so the
    session read can record it) and again by ``verify_proof``."""
    try:
        return _parsed_object(segment)
    except ValueError as exc:
        raise ProofError("malformed", f"{what} is not {exc}") from exc


@functools.lru_cache(maxsize=128)
def _parsed_object(segment: str) -> Mapping[str, Any]:
    try:
        value = _PROOF_JSON.decode(_b64url_decode(segment).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError, binascii.Error) as exc:
        raise ValueError("base64url JSON") from exc
    if not isinstance(value, dict):
        raise ValueError("a JSON object")
    return MappingProxyType(value)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


# ``json.loads`` with hooks builds a new decoder per call; a proof has two segments to read.
_PROOF_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC key: SHA-256 of the canonical required members."""
    members = (jwk["crv"], jwk["kty"], jwk["x"], jwk["y"])
    if all(isinstance(member, str) for member in members):
        return _thumbprint(*members)
    return _thumbprint.__wrapped__(*members)  # not a key we accept: computed, not cached


@functools.lru_cache(maxsize=1024)
def _thumbprint(crv: Any, kty: Any, x: Any, y: Any) -> str:  # once per key and process, as _p256_key
    canonical = json.dumps(
        {"crv": crv, "kty": kty, "x": x, "y": y},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    return _b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _public_key(jwk: object) -> tuple[ec.EllipticCurvePublicKey, dict[str, str]]:
    """Accept only an EC P-256 public key whose point lies on the curve."""
    if not isinstance(jwk, dict):
        raise ProofError("bad_key", "jwk is not a JSON object")
    if _PRIVATE_JWK_MEMBERS & jwk.keys():
        raise ProofError("private_key_in_jwk", "jwk contains private key material")
    if jwk.get("kty") != "EC":
        raise ProofError("bad_key", f"jwk kty must be EC, got {_snip(jwk.get('kty'))}")
    if jwk.get("crv") != "P-256":
        raise ProofError("bad_key", f"jwk crv must be P-256, got {_snip(jwk.get('crv'))}")
    x, y = jwk.get("x"), jwk.get("y")
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, str):
            raise ProofError("bad_key", f"jwk {name} is not base64url")
    key = _p256_key(x, y)
    public = {"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    return key, public


@functools.lru_cache(maxsize=1024)
def _p256_key(x: str, y: str) -> ec.EllipticCurvePublicKey:
    """The key object for one point, built once per process: a device signs every request
    with the same key, and decoding plus the on-curve check cost more than the lookup.
    Keys are immutable; a refused point raises and is not cached."""
    coords: list[int] = []
    for name, value in (("x", x), ("y", y)):
        try:
            raw = _b64url_decode(value)
        except ValueError as exc:
            raise ProofError("bad_key", f"jwk {name} is not base64url") from exc
        if len(raw) != _COORD_BYTES:
            raise ProofError("bad_key", f"jwk {name} must be {_COORD_BYTES} bytes")
        coords.append(int.from_bytes(raw, "big"))
    try:
        return ec.EllipticCurvePublicNumbers(coords[0], coords[1], ec.SECP256R1()).public_key()
    except ValueError as exc:  # point not on the curve (invalid-curve attacks)
        raise ProofError("bad_key", "jwk point is not on P-256") from exc


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end == -1 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def _normalise_percent(text: str) -> str:
    """Uppercase percent-encodings; decode those of unreserved characters (§6.2.2.1-2)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PCT.sub(fix, text)


def normalise_htu(url: str) -> str:
    """Normalise an HTTP(S) URL for ``htu`` comparison (RFC 3986 §6.2.2, §6.2.3).

    Lowercases scheme and host, drops the default port, the query and the
    fragment, normalises percent-encoding and dot segments, and turns an empty
    path into ``/``. Raises ``ValueError`` for anything that is not an absolute
    URL with a host.

    Both URLs of a proof's check (its ``htu`` and the request's) repeat from request to
    request, so their normal forms are cached per process; a refusal is not.
    """
    if not isinstance(url, str):
        raise ValueError("URL must be a string without whitespace or controls")
    return _normalised_htu(url)


@functools.lru_cache(maxsize=256)
def _normalised_htu(url: str) -> str:
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ValueError("URL must be a string without whitespace or controls")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname  # lowercased, IPv6 brackets removed
    if not scheme or not host:
        raise ValueError("URL must be absolute with a host")
    port = parts.port  # ValueError when not a valid port number
    if ":" in host:
        host = f"[{host}]"
    netloc = _normalise_percent(host)
    if parts.username is not None or parts.password is not None:
        raise ValueError("URL must not contain user information")
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = _remove_dot_segments(_normalise_percent(parts.path)) or "/"
    return f"{scheme}://{netloc}{path}"


def extract_proof_header(meta: Mapping[str, str]) -> str | None:
    """Read the single ``DPoP`` header from a WSGI-like ``META``.

    WSGI servers join repeated headers with ``", "``; a compact JWS never
    contains a comma, so a comma means the client sent more than one proof.
    """
    value = meta.get("HTTP_DPOP")
    if value is None:
        return None
    if "," in value:
        raise ProofError("multiple_headers", "more than one DPoP header")
    value = value.strip()
    return value or None


def access_token_hash(token: str) -> str:
    """RFC 9449 ``ath`` of a token: base64url SHA-256 of its ASCII bytes."""
    return _b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


def check_ath(ath: str | None, token_digests: Iterable[bytes]) -> None:
    """Refuse a proof whose ``ath`` names another token than the request presented.

    ``token_digests`` are SHA-256 digests of the tokens the request may have
    presented (a server that stores only token hashes never needs the token).
    A proof without ``ath`` passes: its binding is the key, not the token.
    """
    if ath is None:
        return
    if not any(hmac.compare_digest(_b64url_encode(digest), ath) for digest in token_digests):
        raise ProofError("ath_mismatch", "ath does not match the presented token")


def _claim_str(claims: Mapping[str, Any], name: str, max_length: int) -> str:
    value = claims.get(name)
    if value is None:
        raise ProofError("missing_claim", f"claim {name} is required")
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise ProofError("bad_claim", f"claim {name} must be a string of 1..{max_length} characters")
    return value


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    now: float,
    max_age_secs: int = 60,
    max_future_secs: int = 5,
    max_length: int = 4096,
) -> VerifiedProof:
    """Verify one DPoP proof for a request to ``method url`` at time ``now``.

    Checks are ordered cheap-to-expensive: size and structure, header, key,
    then the signature (PyJWT's ``ES256`` algorithm, pinned), then the claims. Raises
    :class:`ProofError`; never anything else for any string input.
    """
    if proof is None or proof == "":
        raise ProofError("missing", "no DPoP proof")
    if not isinstance(proof, str):
        raise ProofError("malformed", "proof must be a string")
    if len(proof) > max_length:
        raise ProofError("too_large", f"proof longer than {max_length} characters")
    if not proof.isascii():
        raise ProofError("malformed", "proof must be ASCII")
    segments = proof.split(".")
    if len(segments) != 3:
        raise ProofError("malformed", f"a compact JWS has 3 segments, got {len(segments)}")

    header = _json_object(segments[0], "header")
    claims = _json_object(segments[1], "payload")
    if "crit" in header or "b64" in header:
        raise ProofError("malformed", "crit and b64 headers are not supported")
    if header.get("typ") != PROOF_TYP:
        raise ProofError("bad_typ", f"typ must be {PROOF_TYP}, got {_snip(header.get('typ'))}")
    if header.get("alg") != PROOF_ALG:
        raise ProofError("bad_alg", f"alg must be {PROOF_ALG}, got {_snip(header.get('alg'))}")
    key, public_jwk = _public_key(header.get("jwk"))

    try:
        signature = _b64url_decode(segments[2])
    except ValueError as exc:
        raise ProofError("malformed", "signature is not base64url") from exc
    if len(signature) != _ECDSA_SIG_BYTES:  # DER or truncated signatures
        raise ProofError("bad_signature", "ES256 signature must be 64 raw bytes (r || s)")
    # PyJWT's ES256 over the signing input exactly as sent. Not ``jwt.decode``: it would
    # parse again the header and claims this function has already checked more strictly
    # (about 70 of its 150 CPU us per proof), and it checks no DPoP claim anyway.
    if not _ES256.verify(f"{segments[0]}.{segments[1]}".encode("ascii"), key, signature):
        raise ProofError("bad_signature", "signature does not verify")

    jti = _claim_str(claims, "jti", MAX_JTI_LENGTH)
    htm = _claim_str(claims, "htm", 32)
    htu = _claim_str(claims, "htu", 2048)
    iat_value = claims.get("iat")
    if iat_value is None:
        raise ProofError("missing_claim", "claim iat is required")
    if (
        isinstance(iat_value, bool)
        or not isinstance(iat_value, (int, float))
        or not math.isfinite(iat_value)
        or abs(iat_value) > 2**53
    ):
        raise ProofError("bad_claim", "claim iat must be a number")
    ath = claims.get("ath")
    if ath is not None and (not isinstance(ath, str) or not _ATH.fullmatch(ath)):
        raise ProofError("bad_claim", "claim ath must be a base64url SHA-256 digest")
    nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE_LENGTH):
        raise ProofError("bad_claim", "claim nonce must be a non-empty string")

    if htm != method:
        raise ProofError("htm_mismatch", f"htm {_snip(htm)} does not match the request method")
    try:
        normalised_htu = normalise_htu(htu)
        matches = normalised_htu == normalise_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise ProofError("htu_mismatch", f"htu {_snip(htu)} does not match the request URL")
    iat = int(iat_value)
    if iat_value < now - max_age_secs:
        raise ProofError("iat_too_old", f"proof older than {max_age_secs} s")
    if iat_value > now + max_future_secs:
        raise ProofError("iat_in_future", f"proof more than {max_future_secs} s in the future")

    return VerifiedProof(
        thumbprint=jwk_thumbprint(public_jwk),
        public_jwk=public_jwk,
        jti=jti,
        nonce=nonce,
        iat=iat,
        htm=htm,
        htu=normalised_htu,
        ath=ath,
    )


def replay_key(thumbprint: str, jti: str) -> str:
    """What a spent proof is remembered by: its key's thumbprint and ``jti``, hashed (a
    ``jti`` is unique per key, RFC 9449 §11.1; the hash bounds the stored length)."""
    return hashlib.sha256(f"{thumbprint}:{jti}".encode()).hexdigest()


def peek_replay_key(proof: str | None) -> tuple[str, str] | None:
    """``(thumbprint, replay_key)`` of a proof read WITHOUT verifying it, or None when it is
    not even shaped like one. Lets the caller record the ``jti`` in the same round trip that
    reads the session (``selectors``); the proof is verified afterwards, and only a proof
    whose verified key and ``jti`` give the same replay key counts as recorded."""
    if not isinstance(proof, str) or len(proof) > 4096 or not proof.isascii():
        return None
    segments = proof.split(".")
    if len(segments) != 3:
        return None
    try:
        header = _json_object(segments[0], "header")
        jti = _claim_str(_json_object(segments[1], "payload"), "jti", MAX_JTI_LENGTH)
        _, public_jwk = _public_key(header.get("jwk"))
    except ProofError:
        return None
    thumbprint = jwk_thumbprint(public_jwk)
    return thumbprint, replay_key(thumbprint, jti)
