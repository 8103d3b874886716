"""Integration keys: random secrets of which only SHA-256 digests are kept, either in
``BYO_SESSIONS["SERVER_INTEGRATION_KEYS"]`` (a leaked settings file leaks no key) or in
``IntegrationKey`` rows made in the admin, which can be labelled, limited to some commands,
given an expiry and revoked. Either kind opens the server; a row's limits then apply.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from .. import http
from ..conf import byo_settings
from ..core import clock
from ..models import AuditEvent, IntegrationKey
from ..services import audit
from .errors import WireError

KEY_PREFIX = "byo_ik_"
HINT_LENGTH = len(KEY_PREFIX) + 6


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an accepted key is: ``commands`` None for every command (settings keys and rows
    that tick none), else the commands it may run."""

    key_id: int | None
    commands: frozenset[str] | None

    def refusal(self, command: str) -> WireError | None:
        if self.commands is None or command in self.commands:
            return None
        return WireError("CommandNotAllowed", {"command_name": command[:100]}, 403)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and the digest to paste into settings."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_digest(key)


def _in_settings(digest: str) -> bool:
    """Compare against every configured digest without stopping early (constant time)."""
    found = False
    for configured in byo_settings.SERVER_INTEGRATION_KEYS or ():
        if isinstance(configured, str) and hmac.compare_digest(configured.lower(), digest):
            found = True
    return found


def _usable(now: datetime) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def authorize(header: str) -> Caller | WireError:
    """The caller named by ``Authorization: Bearer <key>``, or the protocol's
    IntegrationKeyError (all answered with 401). A stored key is one indexed lookup of its
    digest (a digest of a random 256-bit key: nothing to learn from its timing)."""
    key = http.bearer_credentials(header)
    if key is None:
        return WireError("NoIntegrationKeyFoundInHeader", "Send 'Authorization: Bearer <integration key>'.", 401)
    if not key.startswith(KEY_PREFIX):
        return WireError("InvalidPrefix", f"Integration keys start with {KEY_PREFIX!r}.", 401)
    digest = key_digest(key)
    if _in_settings(digest):
        return Caller(key_id=None, commands=None)
    row = (
        IntegrationKey.objects.filter(_usable(clock.now()), digest=digest).values_list("pk", "allowed_commands").first()
    )
    if row is None:
        return WireError("IntegrationKeyNotFound", "No such integration key.", 401)
    pk, allowed = row
    return Caller(key_id=pk, commands=frozenset(allowed) if allowed else None)


def check_authorization(header: str) -> WireError | None:
    """``None`` when the header names a usable key (any command), else the refusal."""
    found = authorize(header)
    return found if isinstance(found, WireError) else None


def create(
    *, label: str, allowed_commands: list[str], expires_at: datetime | None, actor: str
) -> tuple[str, IntegrationKey]:
    """A new stored key: answers the key itself (to show once) and its row (holding the digest)."""
    key, digest = new_key()
    with transaction.atomic():
        row = IntegrationKey.objects.create(
            label=label,
            digest=digest,
            hint=key[:HINT_LENGTH],
            allowed_commands=sorted(allowed_commands),
            created_at=clock.now(),
            created_by=actor,
            expires_at=expires_at,
        )
        audit.record(
            audit.Event(
                AuditEvent.Type.INTEGRATION_KEY_CREATED,
                actor=actor,
                details={
                    "key_id": row.pk,
                    "label": label,
                    "hint": row.hint,
                    "allowed_commands": row.allowed_commands,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
        )
    return key, row


def revoke(*, key_id: int, actor: str) -> bool:
    """Refuse the key from now on; False when it was already revoked (or does not exist)."""
    with transaction.atomic():
        revoked = IntegrationKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(
            revoked_at=clock.now(), revoked_by=actor
        )
        if revoked:
            audit.record(audit.Event(AuditEvent.Type.INTEGRATION_KEY_REVOKED, actor=actor, details={"key_id": key_id}))
    return bool(revoked)
