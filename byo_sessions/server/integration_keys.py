"""Integration keys: random secrets whose SHA-256 digests are configured in
``BYO_SESSIONS["SERVER_INTEGRATION_KEYS"]`` (a leaked settings file leaks no key)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from .. import http
from ..conf import byo_settings
from .errors import WireError

KEY_PREFIX = "byo_ik_"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and the digest to paste into settings."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_digest(key)


def _known(digest: str) -> bool:
    """Compare against every configured digest without stopping early (constant time)."""
    found = False
    for configured in byo_settings.SERVER_INTEGRATION_KEYS or ():
        if isinstance(configured, str) and hmac.compare_digest(configured.lower(), digest):
            found = True
    return found


def check_authorization(header: str) -> WireError | None:
    """``None`` when ``Authorization: Bearer <key>`` names a configured key, else the
    protocol's IntegrationKeyError (all answered with 401)."""
    key = http.bearer_credentials(header)
    if key is None:
        return WireError("NoIntegrationKeyFoundInHeader", "Send 'Authorization: Bearer <integration key>'.", 401)
    if not key.startswith(KEY_PREFIX):
        return WireError("InvalidPrefix", f"Integration keys start with {KEY_PREFIX!r}.", 401)
    if not _known(key_digest(key)):
        return WireError("IntegrationKeyNotFound", "No such integration key.", 401)
    return None
