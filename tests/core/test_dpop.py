"""byo_sessions.core.dpop: each attack yields a typed ProofError with its reason."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byo_sessions.core.dpop import (
    PROOF_ERROR_REASONS,
    ProofError,
    VerifiedProof,
    access_token_hash,
    check_ath,
    extract_proof_header,
    jwk_thumbprint,
    normalise_htu,
    verify_proof,
)
from tests.dpop_signer import OMIT, TestDevice, b64url, b64url_json, ec_jwk

URL = "https://api.example.com/v1/things"
NOW = 1_800_000_000.0
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


@pytest.fixture(scope="module")
def device() -> TestDevice:
    return TestDevice()


def verify(proof: str | None, *, method: str = "GET", url: str = URL, now: float = NOW, **kw) -> VerifiedProof:
    return verify_proof(proof, method=method, url=url, now=now, **kw)


def reason_of(proof: str | None, **kw) -> str:
    with pytest.raises(ProofError) as info:
        verify(proof, **kw)
    assert info.value.reason in PROOF_ERROR_REASONS
    return info.value.reason


def replace_segment(proof: str, index: int, value: str) -> str:
    parts = proof.split(".")
    parts[index] = value
    return ".".join(parts)


def off_curve_y(x_b64: str, y_b64: str) -> str:
    """A y that is provably not on P-256 for this x (checked with the curve equation)."""
    import base64

    x = int.from_bytes(base64.urlsafe_b64decode(x_b64 + "="), "big")
    y = int.from_bytes(base64.urlsafe_b64decode(y_b64 + "="), "big")
    for delta in range(1, 10):
        candidate = (y + delta) % P256_P
        if (candidate * candidate - (x**3 - 3 * x + P256_B)) % P256_P != 0:
            return b64url(candidate.to_bytes(32, "big"))
    raise AssertionError("no off-curve y found")


# --- thumbprints --------------------------------------------------------------


def test_rfc9449_example_thumbprint() -> None:
    jwk = {
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256",
    }
    assert jwk_thumbprint(jwk) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    # Extra members (alg, use, kid) do not change an RFC 7638 thumbprint.
    assert jwk_thumbprint({**jwk, "alg": "ES256", "kid": "k1"}) == jwk_thumbprint(jwk)


# --- the happy path -------------------------------------------------------------


def test_valid_proof_is_accepted(device: TestDevice) -> None:
    proof = device.proof("POST", URL, "challenge-1", iat=NOW - 3, jti="jti-abc")
    result = verify(proof, method="POST")
    assert result.thumbprint == device.thumbprint
    assert result.public_jwk == device.jwk
    assert set(result.public_jwk) == {"crv", "kty", "x", "y"}
    assert (result.jti, result.nonce, result.iat, result.htm, result.htu) == (
        "jti-abc",
        "challenge-1",
        int(NOW - 3),
        "POST",
        URL,
    )


def test_nonce_is_optional_at_this_layer(device: TestDevice) -> None:
    assert verify(device.proof("GET", URL, iat=NOW)).nonce is None


def test_proof_encoded_by_pyjwt_is_accepted(device: TestDevice) -> None:
    """An independent encoder (PyJWT) agrees with our verifier on the format."""
    proof = jwt.encode(
        {"jti": "x" * 22, "htm": "GET", "htu": URL, "iat": int(NOW)},
        device.private_key,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": device.jwk},
    )
    assert verify(proof).thumbprint == device.thumbprint


def test_two_devices_have_different_thumbprints() -> None:
    a, b = TestDevice(), TestDevice()
    assert verify(a.proof("GET", URL, iat=NOW)).thumbprint != verify(b.proof("GET", URL, iat=NOW)).thumbprint


# --- the adversarial table ------------------------------------------------------


def _p384_jwk() -> dict[str, str]:
    return ec_jwk(ec.generate_private_key(ec.SECP384R1()))


CASES = {
    # algorithm confusion
    "alg none": (dict(alg="none"), "bad_alg"),
    "alg HS256 keyed with x": (dict(alg="HS256"), "bad_alg"),
    "alg RS256": (dict(alg="RS256"), "bad_alg"),
    "alg ES384": (dict(alg="ES384"), "bad_alg"),
    "alg missing": (dict(header_overrides={"alg": OMIT}), "bad_alg"),
    "alg lowercase": (dict(header_overrides={"alg": "es256"}), "bad_alg"),
    # explicit typing
    "typ wrong": (dict(header_overrides={"typ": "JWT"}), "bad_typ"),
    "typ at+jwt": (dict(header_overrides={"typ": "at+jwt"}), "bad_typ"),
    "typ missing": (dict(header_overrides={"typ": OMIT}), "bad_typ"),
    # keys
    "jwk missing": (dict(header_overrides={"jwk": OMIT}), "bad_key"),
    "jwk string": (dict(header_overrides={"jwk": "not-a-key"}), "bad_key"),
    "oct key": (dict(header_overrides={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), "bad_key"),
    "RSA key": (dict(header_overrides={"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}), "bad_key"),
    "P-384 key": (dict(header_overrides={"jwk": _p384_jwk()}), "bad_key"),
    "crv missing": (dict(header_overrides={"jwk": {"kty": "EC", "x": "AA", "y": "AA"}}), "bad_key"),
    "crit header": (dict(header_overrides={"crit": ["exp"], "exp": 1}), "malformed"),
    # claims
    "jti missing": (dict(claim_overrides={"jti": OMIT}), "missing_claim"),
    "jti huge": (dict(jti="j" * 129), "bad_claim"),
    "jti empty": (dict(jti=""), "bad_claim"),
    "jti number": (dict(claim_overrides={"jti": 12345}), "bad_claim"),
    "htm missing": (dict(claim_overrides={"htm": OMIT}), "missing_claim"),
    "htu missing": (dict(claim_overrides={"htu": OMIT}), "missing_claim"),
    "iat missing": (dict(claim_overrides={"iat": OMIT}), "missing_claim"),
    "iat string": (dict(claim_overrides={"iat": str(int(NOW))}), "bad_claim"),
    "iat bool": (dict(claim_overrides={"iat": True}), "bad_claim"),
    "nonce number": (dict(claim_overrides={"nonce": 7}), "bad_claim"),
    "ath number": (dict(claim_overrides={"ath": 7}), "bad_claim"),
    "ath not a digest": (dict(claim_overrides={"ath": "abc"}), "bad_claim"),
    "ath padded": (dict(claim_overrides={"ath": "A" * 43 + "="}), "bad_claim"),
    "iat far past": (dict(iat=NOW - 3600), "iat_too_old"),
    "iat far future": (dict(iat=NOW + 3600), "iat_in_future"),
    "other method": (dict(method="POST"), "htm_mismatch"),
    "lowercase method": (dict(method="get"), "htm_mismatch"),
    "other URL": (dict(url="https://api.example.com/v1/other"), "htu_mismatch"),
    "other host": (dict(url="https://evil.example.com/v1/things"), "htu_mismatch"),
    "other scheme": (dict(url="http://api.example.com/v1/things"), "htu_mismatch"),
    "other port": (dict(url="https://api.example.com:8443/v1/things"), "htu_mismatch"),
    "path case differs": (dict(url="https://api.example.com/V1/things"), "htu_mismatch"),
    "htu relative": (dict(url="/v1/things"), "htu_mismatch"),
    "htu not a URL": (dict(claim_overrides={"htu": "https://[::1"}), "htu_mismatch"),
    # signatures
    "DER signature": (dict(der_signature=True), "bad_signature"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_adversarial_proof_is_rejected_with_reason(device: TestDevice, name: str) -> None:
    options, expected = CASES[name]
    options = dict(options)
    method = options.pop("method", "GET")
    url = options.pop("url", URL)
    options.setdefault("iat", NOW)
    proof = device.proof(method, url, "nonce", **options)
    assert reason_of(proof) == expected


def test_private_key_in_jwk_is_rejected(device: TestDevice) -> None:
    jwk = ec_jwk(device.private_key, private=True)
    assert "d" in jwk
    assert reason_of(device.proof("GET", URL, header_overrides={"jwk": jwk}, iat=NOW)) == "private_key_in_jwk"


def test_off_curve_point_is_rejected(device: TestDevice) -> None:
    jwk = {**device.jwk, "y": off_curve_y(device.jwk["x"], device.jwk["y"])}
    assert reason_of(device.proof("GET", URL, header_overrides={"jwk": jwk}, iat=NOW)) == "bad_key"


def test_short_coordinate_is_rejected(device: TestDevice) -> None:
    jwk = {**device.jwk, "x": b64url(b"\x01" * 31)}
    assert reason_of(device.proof("GET", URL, header_overrides={"jwk": jwk}, iat=NOW)) == "bad_key"


def test_signature_by_another_key_is_rejected(device: TestDevice) -> None:
    """The header names the victim's key, but an attacker's key signed."""
    attacker = TestDevice()
    proof = attacker.proof("GET", URL, header_overrides={"jwk": device.jwk}, iat=NOW)
    assert reason_of(proof) == "bad_signature"


def test_tampered_claims_are_rejected(device: TestDevice) -> None:
    proof = device.proof("GET", URL, iat=NOW)
    payload = b64url_json({"jti": "z", "htm": "DELETE", "htu": URL, "iat": int(NOW)})
    assert reason_of(replace_segment(proof, 1, payload), method="DELETE") == "bad_signature"


def test_zero_signature_is_rejected(device: TestDevice) -> None:
    proof = replace_segment(device.proof("GET", URL, iat=NOW), 2, b64url(bytes(64)))
    assert reason_of(proof) == "bad_signature"


@pytest.mark.parametrize("segments", [1, 2, 4, 5])
def test_wrong_number_of_segments(device: TestDevice, segments: int) -> None:
    parts = device.proof("GET", URL, iat=NOW).split(".")
    proof = ".".join((parts + parts)[:segments])
    assert reason_of(proof) == "malformed"


@pytest.mark.parametrize(
    ("index", "segment"),
    [
        (0, "eyJ0eXAiOiJkcG9wK2p3dCJ9="),  # padding is not base64url-in-JWS
        (0, "eyJ0eXAi+OiJkcG9wK2p3dCJ9"),  # standard alphabet
        (0, "e"),  # impossible length
        (0, "%%%%"),
        (1, b64url(b"\xff\xfe not utf-8")),
        (1, b64url(b"[1, 2, 3]")),  # JSON, but not an object
        (1, b64url(b'{"iat": NaN}')),
        (2, "AAAA AAAA"),
    ],
)
def test_malformed_base64_or_json(device: TestDevice, index: int, segment: str) -> None:
    proof = replace_segment(device.proof("GET", URL, iat=NOW), index, segment)
    assert reason_of(proof) == "malformed"


def test_non_canonical_base64_is_rejected(device: TestDevice) -> None:
    """Two spellings of the same bytes would let one proof pass twice as two strings."""
    proof = device.proof("GET", URL, iat=NOW)
    signature = proof.rsplit(".", 1)[1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])  # 64 bytes -> 86 chars, last char carries 2 spare bits
    tweaked = signature[:-1] + alphabet[last ^ 1]
    assert reason_of(replace_segment(proof, 2, tweaked)) == "malformed"


def test_non_canonical_jwk_coordinate_is_rejected(device: TestDevice) -> None:
    """Same key bytes, different spelling: must not yield a second accepted jwk."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    x = device.jwk["x"]  # 32 bytes -> 43 chars, the last one carries 2 spare bits
    jwk = {**device.jwk, "x": x[:-1] + alphabet[alphabet.index(x[-1]) ^ 1]}
    assert reason_of(device.proof("GET", URL, header_overrides={"jwk": jwk}, iat=NOW)) == "bad_key"


def test_duplicate_json_members_are_rejected(device: TestDevice) -> None:
    proof = device.proof("GET", URL, iat=NOW)
    header = b64url(('{"typ":"dpop+jwt","alg":"none","alg":"ES256","jwk":' + json.dumps(device.jwk) + "}").encode())
    assert reason_of(replace_segment(proof, 0, header)) == "malformed"


def test_oversized_proof_is_rejected_before_parsing(device: TestDevice) -> None:
    big = device.proof("GET", URL, iat=NOW, claim_overrides={"pad": "p" * 5000})
    assert len(big) > 4096
    assert reason_of(big) == "too_large"
    # The limit is an argument, and the same proof passes a larger one.
    assert verify(big, max_length=len(big)).thumbprint == device.thumbprint


@pytest.mark.parametrize("proof", [None, ""])
def test_missing_proof(proof: str | None) -> None:
    assert reason_of(proof) == "missing"


def test_non_ascii_proof_is_malformed() -> None:
    assert reason_of("é.é.é") == "malformed"


# --- URL and time rules -----------------------------------------------------------


@pytest.mark.parametrize(
    "request_url",
    [
        "https://api.example.com/v1/things?page=2",
        "https://api.example.com/v1/things#top",
        "https://api.example.com:443/v1/things",
        "HTTPS://API.Example.COM/v1/things",
        "https://api.example.com/v1/./x/../things",
    ],
)
def test_url_variants_that_are_the_same_resource_are_accepted(device: TestDevice, request_url: str) -> None:
    assert verify(device.proof("GET", URL, iat=NOW), url=request_url).htu == URL


def test_claim_is_normalised_too(device: TestDevice) -> None:
    proof = device.proof("GET", "HTTPS://API.EXAMPLE.COM:443/v1/things?x=1#f", iat=NOW)
    assert verify(proof).htu == URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("http://example.com:80/a?b#c", "http://example.com/a"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:", "https://example.com/"),
        ("http://example.com:443/", "http://example.com:443/"),
        ("https://example.com:8443/p", "https://example.com:8443/p"),
        ("http://example.com/%7euser/%2f%3a", "http://example.com/~user/%2F%3A"),
        ("http://example.com/a/b/../c/./d", "http://example.com/a/c/d"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        ("http://127.0.0.1:80", "http://127.0.0.1/"),
    ],
)
def test_normalise_htu(url: str, expected: str) -> None:
    assert normalise_htu(url) == expected
    assert normalise_htu(expected) == expected  # idempotent


@pytest.mark.parametrize("url", ["/relative", "example.com/x", "http://", "https://h:99999/", "http://a b/"])
def test_normalise_htu_rejects_non_urls(url: str) -> None:
    for _ in range(2):  # normal forms are cached per process, refusals are not
        with pytest.raises(ValueError):
            normalise_htu(url)


@pytest.mark.parametrize("url", [None, b"https://example.com/", ["https://example.com/"]])
def test_normalise_htu_rejects_what_is_not_text(url: object) -> None:
    with pytest.raises(ValueError):
        normalise_htu(url)  # type: ignore[arg-type]


def test_iat_window_edges(device: TestDevice) -> None:
    assert verify(device.proof("GET", URL, iat=NOW - 60)).iat == NOW - 60
    assert verify(device.proof("GET", URL, iat=NOW + 5)).iat == NOW + 5
    assert reason_of(device.proof("GET", URL, iat=NOW - 61)) == "iat_too_old"
    assert reason_of(device.proof("GET", URL, iat=NOW + 6)) == "iat_in_future"
    # The window is configurable.
    assert verify(device.proof("GET", URL, iat=NOW - 300), max_age_secs=300).iat == NOW - 300
    assert reason_of(device.proof("GET", URL, iat=NOW + 6), max_future_secs=0) == "iat_in_future"


# --- header extraction and messages --------------------------------------------------


def test_extract_proof_header(device: TestDevice) -> None:
    proof = device.proof("GET", URL, iat=NOW)
    assert extract_proof_header({}) is None
    assert extract_proof_header({"HTTP_DPOP": "  "}) is None
    assert extract_proof_header({"HTTP_DPOP": proof}) == proof
    with pytest.raises(ProofError) as info:
        extract_proof_header({"HTTP_DPOP": f"{proof}, {proof}"})
    assert info.value.reason == "multiple_headers"


def test_messages_do_not_echo_attacker_input(device: TestDevice) -> None:
    marker = "ATTACKER" * 100
    for options in (
        {"header_overrides": {"typ": marker}},
        {"header_overrides": {"alg": marker}},
        {"header_overrides": {"jwk": {"kty": marker}}},
        {"claim_overrides": {"htm": "X" + marker[:30]}},
        {"claim_overrides": {"htu": "https://h/" + marker[:1000]}},
    ):
        with pytest.raises(ProofError) as info:
            verify(device.proof("GET", URL, iat=NOW, **options))
        assert len(info.value.message) < 120
        assert marker[:40] not in str(info.value)


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        ProofError("not_a_reason")


# --- property tests: outside input only ever yields ProofError ---------------------------

_DEVICE = TestDevice()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _check_only_proof_errors(proof: str) -> None:
    try:
        verify(proof)
    except ProofError as exc:
        assert exc.reason in PROOF_ERROR_REASONS


@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_proof_error(text: str) -> None:
    _check_only_proof_errors(text)


@given(
    st.lists(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.", max_size=60),
        max_size=5,
    )
)
def test_base64ish_segments_only_raise_proof_error(parts: list[str]) -> None:
    _check_only_proof_errors(".".join(parts))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=150)
@given(
    header=st.dictionaries(st.sampled_from(["typ", "alg", "jwk", "kid", "crit", "b64", "x"]), json_values, max_size=4),
    claims=json_values,
)
def test_arbitrary_json_parts_only_raise_proof_error(header: dict, claims: object) -> None:
    base = {"typ": "dpop+jwt", "alg": "ES256", "jwk": _DEVICE.jwk}
    signing_input = f"{b64url_json({**base, **header})}.{b64url_json(claims)}"
    signature = _DEVICE.sign(signing_input.encode("ascii"))
    _check_only_proof_errors(f"{signing_input}.{b64url(signature)}")


@given(st.text(max_size=200))
def test_extract_header_only_raises_proof_error(text: str) -> None:
    try:
        extract_proof_header({"HTTP_DPOP": text})
    except ProofError as exc:
        assert exc.reason == "multiple_headers"


# --- ath (RFC 9449 §4.2) ----------------------------------------------------------


def test_access_token_hash_matches_rfc9449_example() -> None:
    assert (
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
        == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_ath_is_returned_when_present_and_optional(device: TestDevice) -> None:
    ath = access_token_hash("byo_token")
    assert verify(device.proof("GET", URL, "n", iat=NOW, claim_overrides={"ath": ath})).ath == ath
    assert verify(device.proof("GET", URL, "n", iat=NOW)).ath is None


def test_check_ath() -> None:
    import hashlib

    digest = hashlib.sha256(b"byo_token").digest()
    check_ath(None, [])  # no ath: nothing to check (cookie clients cannot hash their cookie)
    check_ath(access_token_hash("byo_token"), [hashlib.sha256(b"other").digest(), digest])
    for digests in ([hashlib.sha256(b"other").digest()], []):
        with pytest.raises(ProofError) as info:
            check_ath(access_token_hash("byo_token"), digests)
        assert info.value.reason == "ath_mismatch"
