"""Session tokens (core/tokens.py): the format, 256 random bits, the syntax check that keeps
garbage away from the database, the SHA-256 hash that is all we store, and derived tokens."""

from __future__ import annotations

import base64
import hashlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byo_sessions.core.tokens import MAX_TOKEN_LENGTH, derived_token, hash_token, is_well_formed, new_token

PREFIX = "byo_s_"  # TOKEN_PREFIX's default
BODY = "A" * 43
SECRET = "test-secret-key-not-for-production-0123456789abcdef"


def _bits(token: str, prefix: str = PREFIX) -> bytes:
    return base64.urlsafe_b64decode(token[len(prefix) :] + "=")


def test_a_new_token_is_the_prefix_and_256_random_bits_in_url_safe_base64():
    token = new_token()
    assert re.fullmatch(r"byo_s_[A-Za-z0-9_-]{43}", token)
    assert len(_bits(token)) == 32


def test_new_tokens_do_not_repeat():
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert len({t[len(PREFIX) : len(PREFIX) + 8] for t in tokens}) > 1990  # no shared stem either


def test_the_prefix_follows_the_setting(settings):
    settings.BYO_SESSIONS = {"TOKEN_PREFIX": "acme_"}
    token = new_token()
    assert token.startswith("acme_") and is_well_formed(token) and len(_bits(token, "acme_")) == 32
    assert not is_well_formed(PREFIX + BODY)  # another prefix is another product's secret


@pytest.mark.parametrize(
    "token",
    [
        PREFIX + BODY,
        PREFIX + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_9",
    ],
)
def test_well_formed(token):
    assert is_well_formed(token)


@pytest.mark.parametrize(
    "token",
    [
        None,
        42,
        b"byo_s_" + b"A" * 43,
        ["byo_s_" + BODY],
        "",
        PREFIX,
        BODY,
        PREFIX + "A" * 42,
        PREFIX + "A" * 44,
        PREFIX + "A" * 42 + "=",  # padding is not part of the alphabet
        PREFIX + "A" * 42 + "+",
        PREFIX + "A" * 42 + "/",
        PREFIX + "A" * 42 + ".",  # base64 (not url-safe), JWT dot
        PREFIX + "A" * 42 + "é",
        PREFIX + "A" * 42 + "\x00",
        PREFIX + "A" * 42 + " ",
        PREFIX + BODY + "\n",  # a trailing newline that a "$" anchor would let through
        " " + PREFIX + BODY,
        "BYO_S_" + BODY,
        "byo_t_" + BODY,
        PREFIX + BODY + "x" * (MAX_TOKEN_LENGTH * 100),
    ],
)
def test_not_well_formed(token):
    assert is_well_formed(token) is False


_URL_SAFE = string.ascii_letters + string.digits + "-_"


@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet=_URL_SAFE + "=+/.é", min_size=41, max_size=45).map(lambda body: PREFIX + body),
    )
)
def test_any_text_is_judged_without_raising(text):
    assert is_well_formed(text) is (
        text.startswith(PREFIX) and len(text) == len(PREFIX) + 43 and set(text[len(PREFIX) :]) <= set(_URL_SAFE)
    )


def test_hash_is_sha256_in_hex():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and token not in digest


def test_a_derived_token_is_a_well_formed_token_that_only_the_inputs_determine():
    token = derived_token("django-session-key", salt="migration", secret=SECRET)
    assert is_well_formed(token) and len(_bits(token)) == 32
    assert derived_token("django-session-key", salt="migration", secret=SECRET) == token
    others = {
        derived_token("django-session-key2", salt="migration", secret=SECRET),
        derived_token("django-session-key", salt="other", secret=SECRET),
        derived_token("django-session-key", salt="migration", secret=SECRET + "x"),
    }
    assert token not in others and len(others) == 3
