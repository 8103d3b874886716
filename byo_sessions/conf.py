"""All configuration, read from one dict ``settings.BYO_SESSIONS``.

Values are read lazily (never at import time) and the cache is dropped on Django's
``setting_changed`` signal, so ``override_settings`` and pytest's ``settings`` fixture
work. Every key is documented in ``docs/settings.md``; ``checks.py`` validates them.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

DEFAULT_COOKIE_NAME = "byo_session_token"
SECURE_COOKIE_PREFIX = "__Host-"

DEFAULTS: dict[str, Any] = {
    # Lifetimes (seconds). Policies from tags can override them per session.
    "ABSOLUTE_LIFETIME_SECS": 14 * 24 * 3600,
    "INACTIVITY_TIMEOUT_SECS": 7 * 24 * 3600,
    # last_activity_at is written at most this often (keeps the hot path write-free).
    "TOUCH_INTERVAL_SECS": 60,
    # Token rotation (validate_and_refresh). None disables periodic rotation.
    "ROTATION_INTERVAL_SECS": 15 * 60,
    "ROTATION_GRACE_SECS": 30,
    # Concurrent sessions per user (None = unlimited) and what to do beyond it.
    "MAX_SESSIONS_PER_USER": None,
    "ON_SESSION_LIMIT_EXCEEDED": "drop_oldest",
    # Policies: processes re-read the policy set at most this often (cross-process propagation).
    "POLICY_REFRESH_SECS": 5,
    # Tags.
    "TAG_PRIORITY": [],
    "CREATE_ONLY_TAG_TYPES": [],
    # Default policy keys applied when no tag rule sets them (see docs/policies.md).
    "DEFAULT_POLICY": {},
    # Token format.
    "TOKEN_PREFIX": "byo_s_",
    # Cookie transport.
    # None: "__Host-byo_session_token" when secure, else "byo_session_token". The name holds
    # "token" so Django's error reports (SafeExceptionReporterFilter) hide the cookie's value.
    "COOKIE_NAME": None,
    "COOKIE_SECURE": None,  # None: secure unless settings.DEBUG
    "COOKIE_HTTPONLY": True,
    "COOKIE_SAMESITE": "Lax",
    "COOKIE_PATH": "/",
    "COOKIE_DOMAIN": None,
    "COOKIE_PERSISTENT": True,  # Max-Age follows the session's absolute expiry
    # Bearer transport (Authorization: Bearer <token>) and the header carrying a rotated token.
    "ALLOW_BEARER": True,
    "REFRESHED_TOKEN_HEADER": "BYO-Session-Token",
    # Client IP: trust no forwarded header unless told.
    "PROXY_COUNT": 0,
    "TRUSTED_PROXIES": [],
    # Devices.
    "DEVICE_CHALLENGE_TTL_SECS": 300,
    "DEVICE_PROOF_MAX_AGE_SECS": 60,
    # Audit.
    "AUDIT_LOGGER": "byo_sessions.audit",
    # Session server (byo_sessions.server): SHA-256 hex digests of the accepted integration keys.
    "SERVER_INTEGRATION_KEYS": [],
    # Stateless tokens (RS256 JWTs, docs/stateless-tokens.md).
    "STATELESS_TOKEN_LIFETIME_SECS": 300,
    "STATELESS_TOKEN_MAX_LIFETIME_SECS": 3600,
    "STATELESS_TOKEN_ISSUER": "byo_sessions",
    "STATELESS_TOKEN_AUDIENCE": "byo_sessions",
    # Processes re-read the signing keys at most this often (rotation reaches every process).
    "STATELESS_KEY_REFRESH_SECS": 5,
}


class Settings:
    """Attribute access to ``BYO_SESSIONS`` merged over ``DEFAULTS``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._cache is None:
            user = getattr(django_settings, "BYO_SESSIONS", None) or {}
            merged = dict(DEFAULTS)
            merged.update(user)
            self._cache = merged
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise AttributeError(f"Unknown byo_sessions setting {name!r}")
        return values[name]

    def user_keys(self) -> dict[str, Any]:
        """The raw dict the project set (for system checks)."""
        return dict(getattr(django_settings, "BYO_SESSIONS", None) or {})

    @property
    def cookie_secure(self) -> bool:
        value = self._load()["COOKIE_SECURE"]
        return (not django_settings.DEBUG) if value is None else bool(value)

    @property
    def cookie_name(self) -> str:
        name = self._load()["COOKIE_NAME"]
        if name:
            return name
        return SECURE_COOKIE_PREFIX + DEFAULT_COOKIE_NAME if self.cookie_secure else DEFAULT_COOKIE_NAME

    def reload(self) -> None:
        self._cache = None


byo_settings = Settings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("BYO_SESSIONS", "DEBUG"):
        byo_settings.reload()
        from . import policy_store

        policy_store.forget_cached()


setting_changed.connect(_reload)
