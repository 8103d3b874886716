"""Signing keys of stateless tokens: storage, the in-process key set, rotation, JWKS.

* Private keys are stored only encrypted: AES-256-GCM under a key derived (HKDF-SHA256)
  from ``SECRET_KEY``, with the ``kid`` as associated data so a ciphertext cannot be
  moved to another row. ``SECRET_KEY_FALLBACKS`` still decrypt, so rotating
  ``SECRET_KEY`` the Django way keeps the keys usable (re-encryption is not automatic).
* States come from the row's times: *next* (``becomes_default_at`` in the future),
  *active* (the newest whose ``becomes_default_at`` has passed, not expired), *retired*
  (older, not expired), *expired* (``expires_at`` passed: verifies nothing, leaves the JWKS).
* Every process keeps the unexpired keys in memory and re-reads them at most every
  ``STATELESS_KEY_REFRESH_SECS`` (and at once after a rotation in this process), so
  verifying a token needs no query. An unknown ``kid`` is refused, never looked up or
  fetched: a token cannot make us query or download anything.
* When a refresh fails (the database is down) the last good set keeps serving for up to
  ``STATELESS_KEY_MAX_STALENESS_SECS`` after it was read, and the database is tried again
  once per refresh interval, not on every request. Beyond that, or with no set ever read,
  callers get ``KeyStoreUnavailable`` (an ``UnexpectedError``, answered 503): a stale set
  cannot learn of a rotation made elsewhere, so it must not serve forever.
* The first key is created on first use. Creation and rotation hold one transaction
  lock and re-check inside it, so two processes starting at once add one key, not two;
  ``serial`` is unique as a last guard.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.signals import setting_changed
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Max, Q

from ..conf import byo_settings, secret_keys
from ..core import clock
from ..models import SigningKey
from ..values import Err, ErrorType, KeyRotation, Ok, SessionError, err
from . import audit
from .audit import Event, EventType
from .locks import lock_for_transaction

logger = logging.getLogger("byo_sessions")

ALGORITHM = "RS256"
RSA_KEY_BITS = 2048
_ENCRYPTION_VERSION = "v1"
_HKDF_INFO = b"byo_sessions signing key encryption v1"
MAX_ROTATION_SECS = 10 * 365 * 24 * 3600  # keeps every computed datetime far from overflow


class KeyDecryptionError(Exception):
    """No configured secret decrypts a stored key. Names the kid, never key material."""


class KeyStoreUnavailable(Exception):
    """No key set recent enough to trust: the database cannot be read and the last good
    set (if any) is older than ``STATELESS_KEY_MAX_STALENESS_SECS``. Public service calls
    turn it into ``error`` (``UnexpectedError``, reason ``key_store_unavailable``, 503)."""

    def __init__(self) -> None:
        super().__init__("The signing keys cannot be read (database unavailable) and no recent copy is held.")
        self.error = SessionError(ErrorType.UNEXPECTED_ERROR, {"message": str(self), "reason": "key_store_unavailable"})

    def as_err(self) -> Err:
        return Err(self.error)


# --- encryption at rest -----------------------------------------------------------------


def _wrapping_key(secret: str | bytes) -> bytes:
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(material)


def encrypt_private_key(private_key: rsa.RSAPrivateKey, kid: str) -> str:
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    sealed = AESGCM(_wrapping_key(secret_keys()[0])).encrypt(nonce, der, kid.encode())
    return f"{_ENCRYPTION_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def _decrypt(stored: str, kid: str) -> tuple[rsa.RSAPrivateKey, bool]:
    """The key, and whether the current ``SECRET_KEY`` (not a fallback) decrypted it."""
    version, _, body = stored.partition(":")
    if version != _ENCRYPTION_VERSION:
        raise KeyDecryptionError(f"Signing key {kid}: unknown encryption format.")
    raw = base64.urlsafe_b64decode(body)
    nonce, sealed = raw[:12], raw[12:]
    for position, secret in enumerate(secret_keys()):
        try:
            der = AESGCM(_wrapping_key(secret)).decrypt(nonce, sealed, kid.encode())
        except InvalidTag:
            continue
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyDecryptionError(f"Signing key {kid} is not an RSA key.")
        return key, position == 0
    raise KeyDecryptionError(f"Signing key {kid}: neither SECRET_KEY nor SECRET_KEY_FALLBACKS decrypts it.")


def decrypt_private_key(stored: str, kid: str) -> rsa.RSAPrivateKey:
    return _decrypt(stored, kid)[0]


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    """The RFC 7517 JWK with exactly the members the BYO protocol's ``JwkKey`` has."""
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
        "n": _b64uint(numbers.n),
        "e": _b64uint(numbers.e),
    }


# --- the in-process key set -------------------------------------------------------------


@dataclass(slots=True)
class CachedKey:
    kid: str
    serial: int
    becomes_default_at: datetime
    expires_at: datetime | None
    jwk: dict[str, str]
    public_key: rsa.RSAPublicKey = field(repr=False)
    encrypted: str = field(repr=False)
    _private: rsa.RSAPrivateKey | None = field(default=None, repr=False)

    def usable_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def private_key(self) -> rsa.RSAPrivateKey:
        """Decrypted on first use and kept for the life of this snapshot."""
        if self._private is None:
            self._private = decrypt_private_key(self.encrypted, self.kid)
        return self._private


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[CachedKey, ...]
    loaded_at: float

    def find(self, kid: str, now: datetime) -> CachedKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key if key.usable_at(now) else None
        return None

    def active(self, now: datetime) -> CachedKey | None:
        candidates = [k for k in self.keys if k.becomes_default_at <= now and k.usable_at(now)]
        return max(candidates, key=lambda k: (k.becomes_default_at, k.serial), default=None)

    def published(self, now: datetime) -> list[CachedKey]:
        return [k for k in self.keys if k.usable_at(now)]


_lock = threading.Lock()
_cached: KeySet | None = None
_refresh_due = False  # a write in this process changed the keys: re-read at next use
_retry_at: float | None = None  # while the database fails: no new attempt before this
_failing = False  # a failure streak is on (it was logged once)


def _cached_key(row: SigningKey) -> CachedKey:
    jwk = {k: str(row.public_jwk[k]) for k in ("kty", "kid", "use", "alg", "n", "e")}
    numbers = rsa.RSAPublicNumbers(e=_int(jwk["e"]), n=_int(jwk["n"]))
    return CachedKey(
        kid=row.kid,
        serial=row.serial,
        becomes_default_at=row.becomes_default_at,
        expires_at=row.expires_at,
        jwk=jwk,
        public_key=numbers.public_key(),
        encrypted=row.private_key_encrypted,
    )


def _int(b64: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)), "big")


def _unexpired_rows(now: datetime) -> list[SigningKey]:
    """The one read of a refresh (the only query verification ever makes)."""
    return list(SigningKey.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


def _load() -> KeySet:
    now = clock.now()
    return KeySet(keys=tuple(_cached_key(row) for row in _unexpired_rows(now)), loaded_at=now.timestamp())


def _stale_or_raise(now: float) -> KeySet:
    cached = _cached
    if cached is not None and now - cached.loaded_at < byo_settings.STATELESS_KEY_MAX_STALENESS_SECS:
        return cached
    raise KeyStoreUnavailable()


def key_set() -> KeySet:
    """This process's view of the keys; one query at most every STATELESS_KEY_REFRESH_SECS.

    Raises ``KeyStoreUnavailable`` when the database cannot be read and the last good set
    is missing or older than ``STATELESS_KEY_MAX_STALENESS_SECS``.
    """
    global _cached, _refresh_due, _retry_at, _failing
    cached = _cached
    now = clock.now().timestamp()
    interval = byo_settings.STATELESS_KEY_REFRESH_SECS
    if cached is not None and not _refresh_due and 0 <= now - cached.loaded_at < interval:
        return cached
    with _lock:
        if _retry_at is not None and 0 < _retry_at - now <= interval:  # failed lately: spare the database
            return _stale_or_raise(now)
        try:
            loaded = _load()
        except DatabaseError:
            if not _failing:  # once per failure streak, not per request
                logger.warning(
                    "byo_sessions: the signing keys cannot be read; the last good set serves for up "
                    "to STATELESS_KEY_MAX_STALENESS_SECS (%s s)",
                    byo_settings.STATELESS_KEY_MAX_STALENESS_SECS,
                    exc_info=True,
                )
            _failing, _retry_at = True, now + interval
            return _stale_or_raise(now)
        if _failing:
            logger.warning("byo_sessions: the signing keys can be read again")
        _cached, _refresh_due, _retry_at, _failing = loaded, False, None, False
        return loaded


def refresh_soon() -> None:
    """After a write to the keys: re-read at next use, keeping the current set as the
    fallback (a write that failed because the database is down must not drop it)."""
    global _refresh_due, _retry_at
    with _lock:
        _refresh_due, _retry_at = True, None


def forget_cached() -> None:
    """Drop the set entirely (settings changed; tests start empty)."""
    global _cached, _refresh_due, _retry_at, _failing
    with _lock:
        _cached, _refresh_due, _retry_at, _failing = None, False, None, False


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("BYO_SESSIONS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        forget_cached()


setting_changed.connect(_on_setting_changed, dispatch_uid="byo_sessions_signing_keys")


# --- creating keys ----------------------------------------------------------------------


def _new_key(serial: int, now: datetime, becomes_default_at: datetime) -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    row = SigningKey(serial=serial, created_at=now, becomes_default_at=becomes_default_at)
    row.private_key_encrypted = encrypt_private_key(private_key, row.kid)
    row.public_jwk = public_jwk(private_key.public_key(), row.kid)
    row.save(force_insert=True)
    return row


def _next_serial() -> int:
    return int(SigningKey.objects.aggregate(top=Max("serial"))["top"] or 0) + 1


_KEYS_LOCK = "signing-keys"


def _active_row_exists(now: datetime) -> bool:
    return SigningKey.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now), becomes_default_at__lte=now
    ).exists()


def _create_first_key(now: datetime, actor: str) -> None:
    """Add a key that is default at once, unless a concurrent caller already did."""
    try:
        with transaction.atomic():
            lock_for_transaction(_KEYS_LOCK)
            if _active_row_exists(clock.now()):
                return
            row = _new_key(_next_serial(), now, now)
            audit.record(
                Event(
                    EventType.SIGNING_KEY_CREATED,
                    reason="no_active_key",
                    actor=actor,
                    details={"kid": row.kid, "algorithm": ALGORITHM},
                )
            )
    except IntegrityError:
        logger.info("byo_sessions: another process created the signing key first")
    finally:
        transaction.on_commit(refresh_soon)
        refresh_soon()


def signing_key(*, actor: str = "") -> CachedKey:
    """The active key, creating one if there is none (first use, or every key expired).

    Raises ``KeyStoreUnavailable`` when there is no usable key and the database is down.
    """
    now = clock.now()
    key = key_set().active(now)
    if key is not None:  # also from a stale set while the database is down: signing goes on
        return key
    refresh_soon()  # perhaps another process made one since we last looked
    key = key_set().active(now)
    if key is None:
        try:
            _create_first_key(now, actor)
        except DatabaseError as exc:
            raise KeyStoreUnavailable() from exc
        # A concurrent winner's key is default from *its* now, which may be later than ours.
        key = key_set().active(clock.now())
    if key is None:  # only if the database refused the insert for another reason
        raise RuntimeError("No signing key could be created.")
    return key


# --- JWKS and rotation ------------------------------------------------------------------


def get_jwks() -> Ok[dict[str, list[dict[str, str]]]] | Err:
    """``{"keys": [...]}``: the public halves of next, active and retired keys (not expired).

    A key is published as soon as it exists, so verifiers that cache the JWKS know it
    before it signs anything, and stays until its ``expires_at``. ``UnexpectedError``
    (reason ``key_store_unavailable``) when no recent enough key set can be read.
    """
    now = clock.now()
    try:
        published = key_set().published(now)
    except KeyStoreUnavailable as exc:
        return exc.as_err()
    keys = sorted(published, key=lambda k: (k.becomes_default_at, k.serial), reverse=True)
    return Ok({"keys": [dict(k.jwk) for k in keys]})


def _seconds(value: Any, name: str) -> int | Err:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ROTATION_SECS:
        return err(
            ErrorType.INVALID_PARAMETERS,
            f"{name} must be an integer from 0 to {MAX_ROTATION_SECS}.",
            reason="out_of_range",
            parameter=name,
        )
    return value


def rotate_stateless_token_key(
    *, secs_before_new_key_becomes_default: Any, secs_before_existing_keys_are_deactivated: Any, actor: str = ""
) -> Ok[KeyRotation] | Err:
    """Add a key that becomes default later and schedule every existing key's end.

    The new key is published in the JWKS at once (caches of it have
    ``secs_before_new_key_becomes_default`` to pick it up). The existing keys must keep
    verifying every token they may still sign, so they may end no sooner than the switch
    plus the longest token lifetime (``InvalidParameters`` otherwise). A key already
    scheduled to end sooner keeps its earlier end.
    """
    becomes = _seconds(secs_before_new_key_becomes_default, "secs_before_new_key_becomes_default")
    if isinstance(becomes, Err):
        return becomes
    deactivate = _seconds(secs_before_existing_keys_are_deactivated, "secs_before_existing_keys_are_deactivated")
    if isinstance(deactivate, Err):
        return deactivate
    longest = int(byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS)
    if deactivate < becomes + longest:
        return err(
            ErrorType.INVALID_PARAMETERS,
            f"secs_before_existing_keys_are_deactivated must be at least secs_before_new_key_becomes_default"
            f" + the longest token lifetime ({becomes} + {longest} = {becomes + longest}): tokens signed by"
            f" the current key just before the switch must still verify.",
            reason="deactivation_too_early",
            minimum=becomes + longest,
        )
    try:
        signing_key(actor=actor)  # "existing keys" must include the one signing now
    except KeyStoreUnavailable as exc:
        return exc.as_err()
    now = clock.now()
    new_default_at = now + timedelta(seconds=becomes)
    existing_end = now + timedelta(seconds=deactivate)
    try:
        with transaction.atomic():
            lock_for_transaction(_KEYS_LOCK)
            existing = list(
                SigningKey.objects.select_for_update()
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=existing_end))
                .values_list("kid", flat=True)
            )
            SigningKey.objects.filter(kid__in=existing).update(expires_at=existing_end)
            row = _new_key(_next_serial(), now, new_default_at)
            audit.record(
                Event(
                    EventType.SIGNING_KEY_ROTATED,
                    actor=actor,
                    details={
                        "kid": row.kid,
                        "algorithm": ALGORITHM,
                        "becomes_default_at": new_default_at.isoformat(),
                        "existing_keys_expire_at": existing_end.isoformat(),
                        "existing_kids": existing,
                    },
                )
            )
    except IntegrityError:
        return err(
            ErrorType.UNEXPECTED_ERROR,
            "Another rotation ran at the same moment; try again.",
            reason="concurrent_rotation",
        )
    finally:
        transaction.on_commit(refresh_soon)
        refresh_soon()
    return Ok(
        KeyRotation(new_key_id=row.kid, new_key_becomes_default_at=new_default_at, existing_keys_expire_at=existing_end)
    )


def reencrypt_signing_keys(*, actor: str = "") -> Ok[list[str]] | Err:
    """Re-encrypt under the current ``SECRET_KEY`` every unexpired key that a fallback decrypts.

    Run it after moving the old ``SECRET_KEY`` into ``SECRET_KEY_FALLBACKS``; afterwards the
    fallback can be dropped. All or nothing: if any key decrypts with no configured secret,
    nothing is changed and the error names that key. Answers the kids re-encrypted.
    """
    now = clock.now()
    try:
        with transaction.atomic():
            lock_for_transaction(_KEYS_LOCK)
            rows = list(
                SigningKey.objects.select_for_update()
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by("serial")
            )
            changed: list[str] = []
            for row in rows:
                private_key, current = _decrypt(row.private_key_encrypted, row.kid)
                if not current:
                    SigningKey.objects.filter(kid=row.kid).update(
                        private_key_encrypted=encrypt_private_key(private_key, row.kid)
                    )
                    changed.append(row.kid)
            if changed:
                audit.record(Event(EventType.SIGNING_KEY_REENCRYPTED, actor=actor, details={"kids": changed}))
    except KeyDecryptionError as exc:
        return err(ErrorType.UNEXPECTED_ERROR, f"{exc} Nothing was re-encrypted.", reason="key_not_decryptable")
    finally:
        transaction.on_commit(refresh_soon)
        refresh_soon()
    return Ok(changed)


def key_state(row: SigningKey, now: datetime | None = None) -> str:
    """``next`` / ``active`` / ``retired`` / ``expired`` for one row (admin, command output)."""
    now = now or clock.now()
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if row.becomes_default_at > now:
        return "next"
    newer = SigningKey.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now), becomes_default_at__lte=now
    ).filter(
        Q(becomes_default_at__gt=row.becomes_default_at)
        | Q(becomes_default_at=row.becomes_default_at, serial__gt=row.serial)
    )
    return "retired" if newer.exists() else "active"
