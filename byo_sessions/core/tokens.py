"""Session tokens: generation, syntax check and hashing.

A token is ``<prefix><43 url-safe base64 chars>`` (256 random bits). The prefix makes
leaked tokens easy for secret scanners to spot. Only ``hash_token(token)`` (SHA-256,
hex) is stored, so a database leak does not leak usable tokens; lookup by hash is an
indexed equality, which is also why no constant-time comparison is needed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from django.utils.crypto import salted_hmac

from ..conf import byo_settings

TOKEN_BYTES = 32
_BODY = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_TOKEN_LENGTH = 128


def new_token() -> str:
    return byo_settings.TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def derived_token(value: str, *, salt: str, secret: str) -> str:
    """A token computed from ``value`` under ``secret`` (HMAC-SHA256, 256 bits; callers pass
    ``conf.secret_keys()[0]``, the current ``SECRET_KEY``): the same value always gives
    the same token, and only the holder of ``value`` and the key can compute it. For a
    credential that must turn into exactly one of ours, however many requests present it
    at once (``services/engine.migrate_django_session``)."""
    digest = salted_hmac(salt, value, secret=secret, algorithm="sha256").digest()
    return byo_settings.TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: object) -> bool:
    """Cheap syntax check so garbage never reaches the database."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return False
    prefix = byo_settings.TOKEN_PREFIX
    return token.startswith(prefix) and _BODY.fullmatch(token, len(prefix)) is not None
