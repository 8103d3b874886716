"""All configuration, read from one dict ``settings.BYO_SESSIONS``.

Values are read lazily (never at import time) and the cache is dropped on Django's
``setting_changed`` signal, so ``override_settings`` and pytest's ``settings`` fixture
work. Every key is documented in ``docs/settings.md``; ``checks.py`` validates them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

# Keys of earlier versions and what replaced each: the unknown-key check (E002) says
# "use <this>". The cookie keys became Django's own settings.
REPLACED_KEYS = {
    "COOKIE_NAME": "Django's SESSION_COOKIE_NAME",
    "COOKIE_SECURE": "Django's SESSION_COOKIE_SECURE",
    "COOKIE_HTTPONLY": "Django's SESSION_COOKIE_HTTPONLY",
    "COOKIE_SAMESITE": "Django's SESSION_COOKIE_SAMESITE",
    "COOKIE_PATH": "Django's SESSION_COOKIE_PATH",
    "COOKIE_DOMAIN": "Django's SESSION_COOKIE_DOMAIN",
    "COOKIE_PERSISTENT": "Django's SESSION_EXPIRE_AT_BROWSER_CLOSE (inverted)",
    "LOGIN_SESSION_OPTIONS": "BYO_SESSIONS['ADAPTER'] with a login_options method (docs/api.md, Extending)",
}

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
    # The per-request SELECT as a statement prepared once per PostgreSQL connection (no
    # planning per request). Off by itself under DISABLE_SERVER_SIDE_CURSORS (PgBouncer).
    "PREPARED_HOT_QUERY": True,
    # Token format.
    "TOKEN_PREFIX": "byo_s_",
    # The session cookie is Django's: SESSION_COOKIE_NAME, _SECURE, _HTTPONLY, _SAMESITE,
    # _PATH, _DOMAIN and SESSION_EXPIRE_AT_BROWSER_CLOSE apply as they do for any engine.
    # Anonymous sessions (request.session data of visitors who are not logged in) live this long.
    "ANONYMOUS_LIFETIME_SECS": 24 * 3600,
    # Dotted path of the project's SessionAdapter subclass (byo_sessions/adapter.py): tags and
    # metadata of logins through django.contrib.auth.login(), new-device notices.
    "ADAPTER": "byo_sessions.adapter.SessionAdapter",
    # While True, a request carrying a valid django.contrib.sessions session of a logged-in
    # user is moved into a byo session once (docs/migrating.md).
    "MIGRATE_DJANGO_SESSIONS": False,
    # Bearer transport (Authorization: Bearer <token>) and the header carrying a rotated token.
    "ALLOW_BEARER": True,
    "REFRESHED_TOKEN_HEADER": "BYO-Session-Token",
    # Client IP: trust no forwarded header unless told.
    "PROXY_COUNT": 0,
    "TRUSTED_PROXIES": [],
    # The header the trusted proxy writes: "X-Forwarded-For" (a chain) or one address ("X-Real-IP").
    "PROXY_IP_HEADER": "X-Forwarded-For",
    # Devices.
    "DEVICE_CHALLENGE_TTL_SECS": 300,
    "DEVICE_PROOF_MAX_AGE_SECS": 60,
    # Re-authentication for sensitive actions (reauth_required, docs/reauthentication.md): how
    # recent the last authentication must be by default, where pages send the user to prove
    # it (a URL name or path), and how many wrong answers end the session.
    "REAUTH_MAX_AGE_SECS": 300,
    "REAUTH_URL": "byo_sessions:reauthenticate",
    "REAUTH_MAX_FAILURES": 5,
    # Where IP addresses are (services/geo.py): "auto" (Django's GeoIP2 when GEOIP_PATH is set,
    # else the offline country lookup), "geoip2", "offline", or None (no lookup).
    "GEOLOCATION": "auto",
    # An ASN database inside GEOIP_PATH that names each address's network (used when present).
    "GEOIP_ASN_DATABASE": "GeoLite2-ASN.mmdb",
    # Audit.
    "AUDIT_LOGGER": "byo_sessions.audit",
    # Retention (byo_prune, clearsessions): days each kind is kept once dead; None keeps the audit trail.
    "PRUNE_SESSIONS_AFTER_DAYS": 30,
    "PRUNE_RETIRED_TOKENS_AFTER_DAYS": 30,
    "PRUNE_AUDIT_AFTER_DAYS": None,
    # Unknown or malformed tokens from one client IP: one audit row (reason
    # repeated_unknown_tokens) once this many arrive within one window (counted in Django's cache).
    "UNKNOWN_TOKEN_THRESHOLD": 20,
    "UNKNOWN_TOKEN_WINDOW_SECS": 300,
    # Session server (byo_sessions.server): SHA-256 hex digests of the accepted integration keys.
    "SERVER_INTEGRATION_KEYS": [],
    # Stateless tokens (RS256 JWTs, docs/stateless-tokens.md).
    "STATELESS_TOKEN_LIFETIME_SECS": 300,
    "STATELESS_TOKEN_MAX_LIFETIME_SECS": 3600,
    "STATELESS_TOKEN_ISSUER": "byo_sessions",
    "STATELESS_TOKEN_AUDIENCE": "byo_sessions",
    # Processes re-read the signing keys at most this often (rotation reaches every process).
    "STATELESS_KEY_REFRESH_SECS": 5,
    # While the database cannot be read, the last good key set serves this long after it was read.
    "STATELESS_KEY_MAX_STALENESS_SECS": 300,
    # Revocation of stateless tokens (docs/stateless-tokens.md, "Revocation"): the CACHES alias
    # where ending a session records its id (None: nothing recorded), whether verification
    # checks it by default, and whether an unreadable cache accepts tokens (fail open).
    "STATELESS_REVOCATION_CACHE": None,
    "STATELESS_REVOCATION_CHECK": False,
    "STATELESS_REVOCATION_FAIL_OPEN": False,
    # Sliding absolute lifetime (docs/policies.md, "Extending sessions"): the middleware and the
    # DRF class extend each validated session to now + this many seconds, within its policy's
    # max_extended_lifetime_secs. None: off.
    "SLIDING_ABSOLUTE_LIFETIME_SECS": None,
    # Admin: the header and title of Django's admin site (None leaves Django's own), and how
    # long the overview dashboard's numbers are cached (0: computed on every view).
    "ADMIN_SITE_HEADER": "byo-sessions",
    "OVERVIEW_CACHE_SECS": 60,
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
        value = values[name]
        self.__dict__[name] = value  # later reads skip __getattr__ (a dozen per request) until reload()
        return value

    def user_keys(self) -> dict[str, Any]:
        """The raw dict the project set (for system checks)."""
        return dict(getattr(django_settings, "BYO_SESSIONS", None) or {})

    @property
    def cookie_name(self) -> str:
        """The session cookie: Django's ``SESSION_COOKIE_NAME``."""
        return django_settings.SESSION_COOKIE_NAME

    def reload(self) -> None:
        self._cache = None
        for name in [name for name in self.__dict__ if not name.startswith("_")]:
            del self.__dict__[name]


byo_settings = Settings()


def secret_keys() -> list[str]:
    """``SECRET_KEY``, then ``SECRET_KEY_FALLBACKS``: sign with the first, accept any.

    The one list behind every secret we derive (rotation successors, device challenges,
    the encryption of signing keys), so rotating ``SECRET_KEY`` the Django way keeps
    honest clients working until the fallback is dropped."""
    return [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", [])]


def _reload(*, setting: str, **kwargs: Any) -> None:
    # Caches built from settings elsewhere (the policy set, the signing keys) connect their
    # own receivers, so this module imports nothing of the package.
    if setting in ("BYO_SESSIONS", "DEBUG"):
        byo_settings.reload()


setting_changed.connect(_reload)
