"""Session tokens: generation, syntax check and hashing.

A token is ``<prefix><43 url-safe base64 chars>`` (256 random bits). The prefix makes
leaked tokens easy for secret scanners to spot. Only ``hash_token(token)`` (SHA-256,
hex) is stored, so a database leak does not leak usable tokens; lookup by hash is an
indexed equality, which is also why no constant-time comparison is needed.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from .conf import byo_settings

TOKEN_BYTES = 32
_BODY = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_TOKEN_LENGTH = 128


def new_token() -> str:
    return byo_settings.TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: object) -> bool:
    """Cheap syntax check so garbage never reaches the database."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return False
    prefix = byo_settings.TOKEN_PREFIX
    return token.startswith(prefix) and _BODY.fullmatch(token, len(prefix)) is not None

