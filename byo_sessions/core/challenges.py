"""Stateless device challenges: the server-issued ``nonce`` of a device proof.

A challenge proves that the server issued it recently, to this IP and this
User-Agent, without the server storing anything: it carries its expiry, 128
random bits and MACs made with a server secret. The IP and UA are never in the
challenge in clear, only inside keyed MACs.

Format (URL-safe, ``1*NQCHAR`` as RFC 9449 §8.1 requires, ~130 characters)::

    c1.<expires_at>.<random>.<ip_tag>.<ua_tag>.<tag>

* ``random``  16 bytes from ``secrets``, base64url.
* ``ip_tag``  HMAC-SHA256(K_ip, body || SHA-256(ip))[:16], base64url.
* ``ua_tag``  HMAC-SHA256(K_ua, body || SHA-256(ua))[:16], base64url.
* ``tag``     HMAC-SHA256(K_tag, body || ip_tag || ua_tag), base64url.

``body`` is ``c1.<expires_at>.<random>``; ``K_*`` are derived from ``secret``
with distinct labels (domain separation). Because ``tag`` covers both bound
tags, one MAC authenticates (version, expiry, random, SHA-256(ip),
SHA-256(ua)). The two separate 128-bit tags exist only so a failure can say
*which* binding broke (``ip_mismatch`` vs ``ua_mismatch``): the IP policy may
allow a new challenge where a UA change means something else.

:class:`ChallengeError` reasons, checked in this order:

``malformed``    not the format above
``forged``       ``tag`` does not verify with ``secret`` (tampered, other secret)
``expired``      ``now >= expires_at``
``ip_mismatch``  issued to another IP address
``ua_mismatch``  issued to another User-Agent

All MAC comparisons use :func:`hmac.compare_digest`. Replay within the
lifetime is not prevented here; the proof's ``jti`` single-use check does that.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets

__all__ = [
    "CHALLENGE_ERROR_REASONS",
    "ChallengeError",
    "check_challenge",
    "issue_challenge",
]

CHALLENGE_ERROR_REASONS = frozenset({"malformed", "forged", "expired", "ip_mismatch", "ua_mismatch"})

_VERSION = "c1"
_RANDOM_BYTES = 16
_BINDING_TAG_BYTES = 16
_MIN_SECRET_BYTES = 16
_MAX_LENGTH = 256
_FORMAT = re.compile(
    r"(?P<body>c1\.(?P<exp>[1-9][0-9]{0,11})\.(?P<random>[A-Za-z0-9_-]{22}))"
    r"\.(?P<ip>[A-Za-z0-9_-]{22})\.(?P<ua>[A-Za-z0-9_-]{22})\.(?P<tag>[A-Za-z0-9_-]{43})"
)


class ChallengeError(Exception):
    """A challenge was refused; ``reason`` is one of :data:`CHALLENGE_ERROR_REASONS`."""

    def __init__(self, reason: str, message: str = "") -> None:
        if reason not in CHALLENGE_ERROR_REASONS:
            raise ValueError(f"unknown challenge error reason {reason!r}")
        self.reason = reason
        self.message = message or reason.replace("_", " ")
        super().__init__(f"{reason}: {self.message}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=32)  # three labels per secret; checked on every proved request
def _key(secret: bytes, label: bytes) -> bytes:
    return hmac.new(secret, b"byo-sessions/challenge/" + label, hashlib.sha256).digest()


def _hash_value(value: str | None) -> bytes:
    """SHA-256 of an optional string; ``None`` and ``""`` hash differently."""
    if value is None:
        return hashlib.sha256(b"\x00none").digest()
    return hashlib.sha256(b"\x01" + value.encode("utf-8", "surrogatepass")).digest()


def _binding_tag(secret: bytes, label: bytes, body: str, value: str | None) -> str:
    mac = hmac.new(_key(secret, label), body.encode("ascii") + b"|" + _hash_value(value), hashlib.sha256)
    return _b64(mac.digest()[:_BINDING_TAG_BYTES])


def _tag(secret: bytes, body: str, ip_tag: str, ua_tag: str) -> str:
    message = f"{body}.{ip_tag}.{ua_tag}".encode("ascii")
    return _b64(hmac.new(_key(secret, b"tag"), message, hashlib.sha256).digest())


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"secret must be at least {_MIN_SECRET_BYTES} bytes")


def issue_challenge(
    *,
    secret: bytes,
    ip_address: str | None,
    user_agent: str | None,
    now: float,
    ttl_secs: int,
) -> tuple[str, int]:
    """Return ``(challenge, expires_at)`` bound to this client for ``ttl_secs``."""
    _check_secret(secret)
    if ttl_secs <= 0:
        raise ValueError("ttl_secs must be positive")
    expires_at = int(now) + int(ttl_secs)
    body = f"{_VERSION}.{expires_at}.{_b64(secrets.token_bytes(_RANDOM_BYTES))}"
    ip_tag = _binding_tag(secret, b"ip", body, ip_address)
    ua_tag = _binding_tag(secret, b"ua", body, user_agent)
    return f"{body}.{ip_tag}.{ua_tag}.{_tag(secret, body, ip_tag, ua_tag)}", expires_at


def check_challenge(
    challenge: str,
    *,
    secret: bytes,
    ip_address: str | None,
    user_agent: str | None,
    now: float,
) -> int:
    """Verify a challenge for this client at ``now``; return its ``expires_at``.

    Raises :class:`ChallengeError`, and nothing else for any string input.
    """
    _check_secret(secret)
    if not isinstance(challenge, str) or len(challenge) > _MAX_LENGTH:
        raise ChallengeError("malformed", "challenge has the wrong type or size")
    match = _FORMAT.fullmatch(challenge)
    if match is None:
        raise ChallengeError("malformed", "challenge does not have the expected format")
    body, ip_tag, ua_tag = match["body"], match["ip"], match["ua"]
    if not hmac.compare_digest(_tag(secret, body, ip_tag, ua_tag), match["tag"]):
        raise ChallengeError("forged", "challenge was not issued by this server")
    expires_at = int(match["exp"])
    if now >= expires_at:
        raise ChallengeError("expired", "challenge has expired")
    if not hmac.compare_digest(_binding_tag(secret, b"ip", body, ip_address), ip_tag):
        raise ChallengeError("ip_mismatch", "challenge was issued to another IP address")
    if not hmac.compare_digest(_binding_tag(secret, b"ua", body, user_agent), ua_tag):
        raise ChallengeError("ua_mismatch", "challenge was issued to another User-Agent")
    return expires_at
