"""byo_sessions.core.challenges: stateless challenges bound to IP and User-Agent."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byo_sessions.core.challenges import CHALLENGE_ERROR_REASONS, ChallengeError, check_challenge, issue_challenge
from tests.constants import IP, UA

SECRET = b"s" * 32
NOW = 1_800_000_000.0
NQCHAR = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 9449 §8.1


def issue(*, secret: bytes = SECRET, ip: str | None = IP, ua: str | None = UA, now: float = NOW, ttl: int = 300):
    return issue_challenge(secret=secret, ip_address=ip, user_agent=ua, now=now, ttl_secs=ttl)


def reason_of(
    challenge: str, *, secret: bytes = SECRET, ip: str | None = IP, ua: str | None = UA, now: float = NOW
) -> str:
    with pytest.raises(ChallengeError) as info:
        check_challenge(challenge, secret=secret, ip_address=ip, user_agent=ua, now=now)
    assert info.value.reason in CHALLENGE_ERROR_REASONS
    return info.value.reason


def test_round_trip_returns_expiry() -> None:
    challenge, expires_at = issue()
    assert expires_at == int(NOW) + 300
    assert check_challenge(challenge, secret=SECRET, ip_address=IP, user_agent=UA, now=NOW + 299) == expires_at


def test_challenge_is_url_safe_nqchar_and_carries_no_clear_ip_or_ua() -> None:
    challenge, _ = issue(ip="203.0.113.99", ua="UniqueAgentString")
    assert NQCHAR.fullmatch(challenge)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", challenge)
    assert "203.0.113.99" not in challenge and "UniqueAgent" not in challenge


def test_challenges_are_unpredictable() -> None:
    """Same inputs, same second: still all distinct (128 random bits each)."""
    challenges = {issue()[0] for _ in range(200)}
    assert len(challenges) == 200
    randoms = {c.split(".")[2] for c in challenges}
    assert len(randoms) == 200
    assert all(len(r) == 22 for r in randoms)  # 16 bytes, base64url


def test_expired() -> None:
    challenge, expires_at = issue(ttl=60)
    assert reason_of(challenge, now=expires_at) == "expired"
    assert reason_of(challenge, now=expires_at + 3600) == "expired"


def test_other_ip() -> None:
    assert reason_of(issue()[0], ip="198.51.100.8") == "ip_mismatch"
    assert reason_of(issue(ip=None)[0], ip="") == "ip_mismatch"  # unknown is not empty


def test_other_user_agent() -> None:
    assert reason_of(issue()[0], ua=UA + " ") == "ua_mismatch"
    assert reason_of(issue(ua=None)[0], ua="curl/8") == "ua_mismatch"


def test_none_values_round_trip() -> None:
    challenge, expires_at = issue(ip=None, ua=None)
    assert check_challenge(challenge, secret=SECRET, ip_address=None, user_agent=None, now=NOW) == expires_at


def test_other_secret_is_forged() -> None:
    assert reason_of(issue()[0], secret=b"t" * 32) == "forged"


@pytest.mark.parametrize("field", range(1, 6))
def test_any_changed_character_is_forged(field: int) -> None:
    """Changing any part (expiry, random, ip/ua tags, tag) in a well-formed way breaks the MAC."""
    challenge, _ = issue()
    parts = challenge.split(".")
    value = parts[field]
    other = ("3" if value[-1] != "3" else "4") if field == 1 else ("B" if value[0] != "B" else "C")
    parts[field] = value[:-1] + other if field == 1 else other + value[1:]
    assert reason_of(".".join(parts)) == "forged"


def test_extending_expiry_is_forged() -> None:
    challenge, expires_at = issue(ttl=10)
    forged = challenge.replace(f".{expires_at}.", f".{expires_at + 10_000}.", 1)
    assert forged != challenge
    assert reason_of(forged, now=expires_at + 5) == "forged"


def test_tag_swapped_between_clients_is_forged() -> None:
    """Copying another client's ip/ua tags into a challenge is caught by the outer MAC."""
    mine = issue(ip="192.0.2.1")[0].split(".")
    theirs = issue(ip="192.0.2.2")[0].split(".")
    mine[3] = theirs[3]
    assert reason_of(".".join(mine), ip="192.0.2.2") == "forged"


@pytest.mark.parametrize(
    "challenge",
    [
        "",
        "c1",
        "c1.1.2.3.4.5",
        "c2" + issue()[0][2:],
        issue()[0] + ".",
        issue()[0] + "\n",
        "x" * 1000,
        "c1.0" + issue()[0][2:],
    ],
)
def test_malformed(challenge: str) -> None:
    assert reason_of(challenge) == "malformed"


def test_bad_configuration_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        issue(secret=b"short")
    with pytest.raises(ValueError):
        issue(ttl=0)
    with pytest.raises(ValueError):
        check_challenge(issue()[0], secret=b"", ip_address=IP, user_agent=UA, now=NOW)


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=40)), st.one_of(st.none(), st.text(max_size=40)))
def test_arbitrary_text_only_raises_challenge_error(text: str, ip: str | None, ua: str | None) -> None:
    try:
        check_challenge(text, secret=SECRET, ip_address=ip, user_agent=ua, now=NOW)
    except ChallengeError as exc:
        assert exc.reason in CHALLENGE_ERROR_REASONS


@given(st.one_of(st.none(), st.text(max_size=60)), st.one_of(st.none(), st.text(max_size=200)))
def test_round_trip_for_any_ip_and_ua(ip: str | None, ua: str | None) -> None:
    challenge, expires_at = issue(ip=ip, ua=ua)
    assert check_challenge(challenge, secret=SECRET, ip_address=ip, user_agent=ua, now=NOW) == expires_at
