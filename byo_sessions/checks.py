"""System checks for ``BYO_SESSIONS``: wrong values fail ``manage.py check`` with a
message that says what to write instead.

No value, however odd, makes ``check_settings`` raise: a crash would hide every other
message, so each group of checks runs guarded and a crash becomes an Error (E023) that
names the keys the group reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from django.views.debug import get_default_exception_reporter_filter

from .adapter import SessionAdapter
from .conf import DEFAULTS, REPLACED_KEYS, byo_settings
from .core.network import InvalidNetwork, forwarded_meta_keys, parse_networks
from .core.policy import PolicyValueError
from .core.tags import is_valid_tag_type

_POSITIVE_INTS = (
    "ABSOLUTE_LIFETIME_SECS",
    "TOUCH_INTERVAL_SECS",
    "DEVICE_CHALLENGE_TTL_SECS",
    "DEVICE_PROOF_MAX_AGE_SECS",
    "POLICY_REFRESH_SECS",
    "ANONYMOUS_LIFETIME_SECS",
    "REAUTH_MAX_AGE_SECS",
    "REAUTH_MAX_FAILURES",
    "PRUNE_SESSIONS_AFTER_DAYS",
    "PRUNE_RETIRED_TOKENS_AFTER_DAYS",
)
_OPTIONAL_POSITIVE_INTS = (
    "INACTIVITY_TIMEOUT_SECS",
    "ROTATION_INTERVAL_SECS",
    "MAX_SESSIONS_PER_USER",
    "SLIDING_ABSOLUTE_LIFETIME_SECS",
    "PRUNE_AUDIT_AFTER_DAYS",
)
_BOOLEANS = (
    "ALLOW_BEARER",
    "MIGRATE_DJANGO_SESSIONS",
    "STATELESS_REVOCATION_CHECK",
    "STATELESS_REVOCATION_FAIL_OPEN",
    "PREPARED_HOT_QUERY",
)
_OPTIONAL_BOOLEANS: tuple[str, ...] = ()
_POLICY_INPUTS = (
    "ABSOLUTE_LIFETIME_SECS",
    "INACTIVITY_TIMEOUT_SECS",
    "ROTATION_INTERVAL_SECS",
    "MAX_SESSIONS_PER_USER",
    "ON_SESSION_LIMIT_EXCEEDED",
    "DEFAULT_POLICY",
    "TAG_PRIORITY",
    "CREATE_ONLY_TAG_TYPES",
)
# RFC 9110 token, which is also RFC 6265's cookie-name: what a header or cookie name may hold.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROBE = "byo-sessions-probe-value"

Check = Callable[[], list[CheckMessage]]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_token(value: Any) -> bool:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


@register(Tags.security, "byo_sessions")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not isinstance(getattr(settings, "BYO_SESSIONS", None) or {}, dict):
        return [Error("BYO_SESSIONS must be a dict.", id="byo_sessions.E001")]
    errors: list[CheckMessage] = []
    for check, keys in _CHECKS:
        errors.extend(_guarded(check, keys))
    if not any(isinstance(e, Error) for e in errors):  # the flat keys feed the policy: report each once
        errors.extend(_guarded(_check_policy_defaults, _POLICY_INPUTS))
    return errors


def _guarded(check: Check, keys: tuple[str, ...]) -> list[CheckMessage]:
    """Run one group of checks; a value odd enough to crash it still gets a message."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - a crash here would take all of `manage.py check` down
        names = ", ".join(f"BYO_SESSIONS[{key!r}]" for key in keys) or "BYO_SESSIONS"
        return [
            Error(
                f"{names} could not be checked ({type(exc).__name__}: {exc}); one of them has a value "
                f"of the wrong type.",
                hint="See docs/settings.md for each key's type.",
                id="byo_sessions.E023",
            )
        ]


def _check_unknown_keys() -> list[CheckMessage]:
    unknown = set(byo_settings.user_keys()) - set(DEFAULTS)
    return [
        Error(
            f"BYO_SESSIONS has an unknown key {key!r}.",
            hint=(
                f"{key!r} was replaced: use {REPLACED_KEYS[key]}."
                if key in REPLACED_KEYS
                else "See docs/settings.md for the keys."
            ),
            id="byo_sessions.E002",
        )
        for key in sorted(unknown, key=repr)
    ]


def _check_numbers() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in _POSITIVE_INTS:
        value = getattr(byo_settings, key)
        if not _is_int(value) or value <= 0:
            errors.append(
                Error(f"BYO_SESSIONS[{key!r}] must be a positive integer, not {value!r}.", id="byo_sessions.E003")
            )
    for key in _OPTIONAL_POSITIVE_INTS:
        value = getattr(byo_settings, key)
        if value is not None and (not _is_int(value) or value <= 0):
            errors.append(
                Error(
                    f"BYO_SESSIONS[{key!r}] must be a positive integer or None, not {value!r}.", id="byo_sessions.E004"
                )
            )
    grace = byo_settings.ROTATION_GRACE_SECS
    if not _is_int(grace) or not 0 <= grace <= 300:
        errors.append(
            Error(
                f"BYO_SESSIONS['ROTATION_GRACE_SECS'] must be an integer from 0 to 300, not {grace!r}.",
                id="byo_sessions.E005",
            )
        )
    count = byo_settings.PROXY_COUNT
    if not _is_int(count) or count < 0:
        errors.append(
            Error(f"BYO_SESSIONS['PROXY_COUNT'] must be an integer >= 0, not {count!r}.", id="byo_sessions.E009")
        )
    return errors


def _check_booleans() -> list[CheckMessage]:
    """A string such as ``"false"`` is truthy: it would silently mean True."""
    errors: list[CheckMessage] = []
    for key in _BOOLEANS + _OPTIONAL_BOOLEANS:
        value = getattr(byo_settings, key)
        if isinstance(value, bool) or (value is None and key in _OPTIONAL_BOOLEANS):
            continue
        allowed = "True, False or None" if key in _OPTIONAL_BOOLEANS else "True or False"
        errors.append(Error(f"BYO_SESSIONS[{key!r}] must be {allowed}, not {value!r}.", id="byo_sessions.E017"))
    return errors


def _check_cookie() -> list[CheckMessage]:
    """The session cookie holds a raw token; error reports (500 emails, logs, the DEBUG
    page) list request cookies, masking only those the exception reporter filter hides."""
    name = settings.SESSION_COOKIE_NAME
    if _hidden_in_error_reports(name):
        return []
    return [
        Warning(
            f"SESSION_COOKIE_NAME {name!r} is not hidden by the exception reporter filter "
            f"({settings.DEFAULT_EXCEPTION_REPORTER_FILTER}): error reports would show raw session tokens.",
            hint="Make the filter hide SESSION_COOKIE_NAME (Django's SafeExceptionReporterFilter "
            "does), or name the cookie so that it does, e.g. SESSION_COOKIE_NAME = 'session_token'.",
            id="byo_sessions.W002",
        )
    ]


def _hidden_in_error_reports(name: str) -> bool:
    """Asked of the filter itself, so a custom filter's own rules count."""
    request = HttpRequest()
    request.COOKIES = {name: _PROBE}
    return get_default_exception_reporter_filter().get_safe_cookies(request).get(name) != _PROBE


def _check_transport() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    prefix = byo_settings.TOKEN_PREFIX
    if not isinstance(prefix, str) or re.fullmatch(r"[A-Za-z0-9_]{1,16}", prefix) is None:
        errors.append(
            Error(
                f"BYO_SESSIONS['TOKEN_PREFIX'] must be 1-16 letters, digits or '_', not {prefix!r}.",
                id="byo_sessions.E008",
            )
        )
    header = byo_settings.REFRESHED_TOKEN_HEADER
    if not _is_token(header):
        errors.append(
            Error(
                f"BYO_SESSIONS['REFRESHED_TOKEN_HEADER'] must be an HTTP header name of letters, "
                f"digits and !#$%&'*+-.^_`|~ (no spaces, ':' or line breaks), such as "
                f"'BYO-Session-Token', not {header!r}.",
                id="byo_sessions.E020",
            )
        )
    return errors


def _check_audit_logger() -> list[CheckMessage]:
    name = byo_settings.AUDIT_LOGGER
    if isinstance(name, str) and name.strip():
        return []
    return [
        Error(
            f"BYO_SESSIONS['AUDIT_LOGGER'] must be a logger name such as 'byo_sessions.audit', not {name!r}.",
            id="byo_sessions.E021",
        )
    ]


def _check_adapter() -> list[CheckMessage]:
    value = byo_settings.ADAPTER
    if not isinstance(value, str):
        problem = "must be a string, the dotted path of the class"
    else:
        try:
            adapter_class = import_string(value)
        except ImportError as exc:  # a module that raises anything else is E023, naming this key
            problem = f"cannot be imported ({type(exc).__name__}: {exc})"
        else:
            if isinstance(adapter_class, type) and issubclass(adapter_class, SessionAdapter):
                return []
            problem = f"names {adapter_class!r}, which is not a subclass of SessionAdapter"
    return [
        Error(
            f"BYO_SESSIONS['ADAPTER'] {problem}: {value!r}.",
            hint="The dotted path of a subclass of byo_sessions.adapter.SessionAdapter, e.g. "
            "'myproject.sessions.ProjectAdapter' (docs/api.md, Extending).",
            id="byo_sessions.E025",
        )
    ]


def _check_migration() -> list[CheckMessage]:
    """Django's sessions are read through django.contrib.sessions' own model and table."""
    if byo_settings.MIGRATE_DJANGO_SESSIONS is not True or apps.is_installed("django.contrib.sessions"):
        return []
    return [
        Error(
            "BYO_SESSIONS['MIGRATE_DJANGO_SESSIONS'] is True but 'django.contrib.sessions' is not in "
            "INSTALLED_APPS: the sessions to migrate cannot be read.",
            hint="Keep 'django.contrib.sessions' in INSTALLED_APPS until the migration is over (docs/migrating.md).",
            id="byo_sessions.E029",
        )
    ]


def _check_default_policy_shape() -> list[CheckMessage]:
    value = byo_settings.DEFAULT_POLICY
    if value is None or isinstance(value, dict):
        return []
    return [
        Error(
            f"BYO_SESSIONS['DEFAULT_POLICY'] must be a dict of policy keys such as "
            f"{{'absolute_lifetime_secs': 3600}}, not {value!r}.",
            id="byo_sessions.E022",
        )
    ]


def _check_lists() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, allow_all in (("TAG_PRIORITY", False), ("CREATE_ONLY_TAG_TYPES", True)):
        value = getattr(byo_settings, key)
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and (is_valid_tag_type(v) or (allow_all and v == "*")) for v in value
        ):
            errors.append(
                Error(
                    f"BYO_SESSIONS[{key!r}] must be a list of tag types such as ['org', 'role'], not {value!r}.",
                    id="byo_sessions.E011",
                )
            )
    proxies = byo_settings.TRUSTED_PROXIES
    try:
        if not isinstance(proxies, (list, tuple)):
            raise InvalidNetwork(proxies, "must be a list")
        parse_networks(list(proxies))
    except InvalidNetwork as exc:
        errors.append(
            Error(f"BYO_SESSIONS['TRUSTED_PROXIES'] must be a list of networks (CIDR): {exc}", id="byo_sessions.E012")
        )
    return errors


def _check_proxy_header() -> list[CheckMessage]:
    header = byo_settings.PROXY_IP_HEADER
    try:
        forwarded_meta_keys(header)
    except ValueError as exc:
        return [
            Error(
                f"BYO_SESSIONS['PROXY_IP_HEADER'] must name the header your proxy writes, "
                f"'X-Forwarded-For' or a single-address header such as 'X-Real-IP': {exc}",
                id="byo_sessions.E031",
            )
        ]
    return []


def _check_integration_keys() -> list[CheckMessage]:
    value = byo_settings.SERVER_INTEGRATION_KEYS
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in value):
        return []
    return [
        Error(
            "BYO_SESSIONS['SERVER_INTEGRATION_KEYS'] must be a list of SHA-256 hex digests "
            "(64 lowercase hex characters), never the keys themselves.",
            hint="Run 'manage.py byo_integration_key' and paste the digest it prints.",
            id="byo_sessions.E013",
        )
    ]


def _check_stateless_tokens() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    longest = byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS
    if not _is_int(longest) or not 1 <= longest <= 86400:
        errors.append(
            Error(
                f"BYO_SESSIONS['STATELESS_TOKEN_MAX_LIFETIME_SECS'] must be an integer from 1 to 86400 "
                f"(stateless tokens cannot be revoked: keep them short), not {longest!r}.",
                id="byo_sessions.E014",
            )
        )
        longest = 86400
    lifetime = byo_settings.STATELESS_TOKEN_LIFETIME_SECS
    if not _is_int(lifetime) or not 1 <= lifetime <= longest:
        errors.append(
            Error(
                f"BYO_SESSIONS['STATELESS_TOKEN_LIFETIME_SECS'] must be an integer from 1 to "
                f"STATELESS_TOKEN_MAX_LIFETIME_SECS ({longest}), not {lifetime!r}.",
                id="byo_sessions.E014",
            )
        )
    for key in ("STATELESS_TOKEN_ISSUER", "STATELESS_TOKEN_AUDIENCE"):
        value = getattr(byo_settings, key)
        if not isinstance(value, str) or not value or len(value) > 255:
            errors.append(
                Error(
                    f"BYO_SESSIONS[{key!r}] must be a non-empty string (at most 255 characters), "
                    f"such as 'https://auth.example.com', not {value!r}.",
                    id="byo_sessions.E015",
                )
            )
    refresh = byo_settings.STATELESS_KEY_REFRESH_SECS
    if not _is_int(refresh) or not 1 <= refresh <= 300:
        errors.append(
            Error(
                f"BYO_SESSIONS['STATELESS_KEY_REFRESH_SECS'] must be an integer from 1 to 300, not {refresh!r}.",
                id="byo_sessions.E016",
            )
        )
    staleness = byo_settings.STATELESS_KEY_MAX_STALENESS_SECS
    if not _is_int(staleness) or not 0 <= staleness <= 86400:
        errors.append(
            Error(
                f"BYO_SESSIONS['STATELESS_KEY_MAX_STALENESS_SECS'] must be an integer from 0 (no "
                f"fallback) to 86400, not {staleness!r}.",
                hint="A stale key set misses rotations made elsewhere: keep it to minutes.",
                id="byo_sessions.E030",
            )
        )
    return errors


_DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"
_LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"


def _revocation_backend() -> str | None:
    alias = byo_settings.STATELESS_REVOCATION_CACHE
    caches = getattr(settings, "CACHES", None) or {}
    entry = caches.get(alias) if isinstance(alias, str) and isinstance(caches, dict) else None
    return entry.get("BACKEND") if isinstance(entry, dict) else None


def _check_revocation() -> list[CheckMessage]:
    """Stateless-token revocation: a cache that exists and keeps what it is given."""
    alias = byo_settings.STATELESS_REVOCATION_CACHE
    if alias is None:
        if byo_settings.STATELESS_REVOCATION_CHECK is True:
            return [
                Error(
                    "BYO_SESSIONS['STATELESS_REVOCATION_CHECK'] is True but STATELESS_REVOCATION_CACHE is "
                    "None: ended sessions are not recorded, so every checked token would be refused (503).",
                    hint="Set STATELESS_REVOCATION_CACHE to an alias of CACHES, such as 'default'.",
                    id="byo_sessions.E041",
                )
            ]
        return []
    if not isinstance(alias, str) or _revocation_backend() is None:
        return [
            Error(
                f"BYO_SESSIONS['STATELESS_REVOCATION_CACHE'] must be None or an alias of CACHES, not {alias!r}.",
                hint="Name a cache that every process shares, such as a Redis cache.",
                id="byo_sessions.E040",
            )
        ]
    if _revocation_backend() == _DUMMY_CACHE:
        return [
            Error(
                f"BYO_SESSIONS['STATELESS_REVOCATION_CACHE'] names {alias!r}, a DummyCache: it keeps "
                "nothing, so no ended session would ever be refused.",
                hint="Name a cache that every process shares, such as a Redis cache.",
                id="byo_sessions.E042",
            )
        ]
    return []


def _check_unknown_tokens() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, upper in (("UNKNOWN_TOKEN_THRESHOLD", 1_000_000), ("UNKNOWN_TOKEN_WINDOW_SECS", 86400)):
        value = getattr(byo_settings, key)
        if not _is_int(value) or not 1 <= value <= upper:
            errors.append(
                Error(
                    f"BYO_SESSIONS[{key!r}] must be an integer from 1 to {upper}, not {value!r}.",
                    hint="Unknown tokens from one IP become one audit row per window once "
                    "UNKNOWN_TOKEN_THRESHOLD of them arrive in UNKNOWN_TOKEN_WINDOW_SECS.",
                    id="byo_sessions.E032",
                )
            )
    return errors


def _check_admin() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    header = byo_settings.ADMIN_SITE_HEADER
    if header is not None and not (isinstance(header, str) and header.strip()):
        errors.append(
            Error(
                f"BYO_SESSIONS['ADMIN_SITE_HEADER'] must be a non-empty string or None, not {header!r}.",
                hint="None leaves Django's admin header as it is.",
                id="byo_sessions.E035",
            )
        )
    ttl = byo_settings.OVERVIEW_CACHE_SECS
    if not _is_int(ttl) or not 0 <= ttl <= 3600:
        errors.append(
            Error(
                f"BYO_SESSIONS['OVERVIEW_CACHE_SECS'] must be an integer from 0 to 3600, not {ttl!r}.",
                hint="The admin overview's numbers are cached this long; 0 computes them on every view.",
                id="byo_sessions.E036",
            )
        )
    return errors


def _check_policy_defaults() -> list[CheckMessage]:
    # A service module needs the models: imported when the check runs, not when this
    # module registers the checks.
    from .services.policies import min_inactivity_timeout_secs, settings_policy_set, touch_interval_secs

    try:
        policy_set = settings_policy_set()  # the same validation the live policy set gets
    except PolicyValueError as exc:
        return [
            Error(f"BYO_SESSIONS policy default {path}: {message}", id="byo_sessions.E010")
            for path, message in exc.errors
        ]
    timeout = policy_set.defaults.get("inactivity_timeout_secs")
    floor = min_inactivity_timeout_secs()
    if timeout is not None and timeout < floor:
        # Not an error: validation writes last activity more often for such a session
        # (services.policies.touch_interval_secs), so nobody is logged out; it costs writes.
        return [
            Warning(
                f"The default inactivity timeout ({timeout} s) is shorter than twice "
                f"BYO_SESSIONS['TOUCH_INTERVAL_SECS'] ({floor} s): sessions under it record their activity "
                f"every {touch_interval_secs(policy_set.resolve(()))} s instead, one UPDATE per request that often.",
                hint=f"Use an inactivity timeout of at least {floor} s, or lower TOUCH_INTERVAL_SECS. The admin "
                f"and the policy import refuse such timeouts in tag rules.",
                id="byo_sessions.W005",
            )
        ]
    return []


def _check_reauth_url() -> list[CheckMessage]:
    """``reauth_required`` sends page requests to ``REAUTH_URL``: a URL name that does not
    resolve would send users to a 404 (or, resolved as a relative path, nowhere sensible)."""
    value = byo_settings.REAUTH_URL
    if not isinstance(value, str) or not value:
        return [
            Error(f"BYO_SESSIONS['REAUTH_URL'] must be a URL name or a path, not {value!r}.", id="byo_sessions.E033")
        ]
    if value.startswith(("/", "http://", "https://")):
        return []
    try:
        reverse(value)
    except NoReverseMatch:
        return [
            Warning(
                f"BYO_SESSIONS['REAUTH_URL'] {value!r} names no URL: reauth_required could not send "
                f"page requests to the re-authentication page.",
                hint="Include byo_sessions.urls (path('byo/', include('byo_sessions.urls'))), or set "
                "REAUTH_URL to your own page's URL name or path.",
                id="byo_sessions.W006",
            )
        ]
    except Exception:  # noqa: BLE001 - a broken URLconf is Django's own check to report
        return []
    return []


def _check_geolocation() -> list[CheckMessage]:
    source, asn = byo_settings.GEOLOCATION, byo_settings.GEOIP_ASN_DATABASE
    errors: list[CheckMessage] = []
    if source not in ("auto", "geoip2", "offline", None):
        errors.append(
            Error(
                f"BYO_SESSIONS['GEOLOCATION'] must be 'auto', 'geoip2', 'offline' or None, not {source!r}.",
                hint="See docs/settings.md (Geolocation).",
                id="byo_sessions.E050",
            )
        )
    elif source == "geoip2" and not getattr(settings, "GEOIP_PATH", None):
        errors.append(
            Error(
                "BYO_SESSIONS['GEOLOCATION'] is 'geoip2' but GEOIP_PATH is not set.",
                hint="Point GEOIP_PATH at a MaxMind or DB-IP database, or use 'auto'.",
                id="byo_sessions.E050",
            )
        )
    if not isinstance(asn, str) or not asn:
        errors.append(
            Error(
                f"BYO_SESSIONS['GEOIP_ASN_DATABASE'] must be a file name such as 'GeoLite2-ASN.mmdb', not {asn!r}.",
                id="byo_sessions.E050",
            )
        )
    return errors


_CHECKS: tuple[tuple[Check, tuple[str, ...]], ...] = (
    (_check_unknown_keys, ()),
    (_check_numbers, _POSITIVE_INTS + _OPTIONAL_POSITIVE_INTS + ("ROTATION_GRACE_SECS", "PROXY_COUNT")),
    (_check_booleans, _BOOLEANS + _OPTIONAL_BOOLEANS),
    (_check_cookie, ()),
    (_check_adapter, ("ADAPTER",)),
    (_check_migration, ("MIGRATE_DJANGO_SESSIONS",)),
    (_check_transport, ("TOKEN_PREFIX", "REFRESHED_TOKEN_HEADER")),
    (_check_audit_logger, ("AUDIT_LOGGER",)),
    (_check_default_policy_shape, ("DEFAULT_POLICY",)),
    (_check_lists, ("TAG_PRIORITY", "CREATE_ONLY_TAG_TYPES", "TRUSTED_PROXIES")),
    (_check_proxy_header, ("PROXY_IP_HEADER",)),
    (_check_reauth_url, ("REAUTH_URL",)),
    (_check_integration_keys, ("SERVER_INTEGRATION_KEYS",)),
    (
        _check_stateless_tokens,
        (
            "STATELESS_TOKEN_LIFETIME_SECS",
            "STATELESS_TOKEN_MAX_LIFETIME_SECS",
            "STATELESS_TOKEN_ISSUER",
            "STATELESS_TOKEN_AUDIENCE",
            "STATELESS_KEY_REFRESH_SECS",
            "STATELESS_KEY_MAX_STALENESS_SECS",
        ),
    ),
    (_check_unknown_tokens, ("UNKNOWN_TOKEN_THRESHOLD", "UNKNOWN_TOKEN_WINDOW_SECS")),
    (_check_revocation, ("STATELESS_REVOCATION_CACHE", "STATELESS_REVOCATION_CHECK")),
    (_check_geolocation, ("GEOLOCATION", "GEOIP_ASN_DATABASE")),
    (_check_admin, ("ADMIN_SITE_HEADER", "OVERVIEW_CACHE_SECS")),
)


ENGINE = "byo_sessions.backends.db"
SESSION_MIDDLEWARE = "byo_sessions.middleware.SessionMiddleware"
AUTH_MIDDLEWARE = "byo_sessions.middleware.AuthenticationMiddleware"
DJANGO_SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
DJANGO_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


@register(Tags.compatibility, "byo_sessions")
def check_integration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The engine and the two middlewares go together, where Django's own go."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    ours_engine = getattr(settings, "SESSION_ENGINE", "") == ENGINE
    messages: list[CheckMessage] = []
    if ours_engine and SESSION_MIDDLEWARE not in middleware:
        found = DJANGO_SESSION_MIDDLEWARE in middleware
        messages.append(
            Error(
                f"SESSION_ENGINE is {ENGINE!r} but MIDDLEWARE does not hold {SESSION_MIDDLEWARE!r}"
                + (
                    f" ({DJANGO_SESSION_MIDDLEWARE!r} is there instead): sessions would be checked without the "
                    "client's IP and User-Agent, never rotated, and Bearer tokens ignored."
                    if found
                    else "."
                ),
                hint=f"Put {SESSION_MIDDLEWARE!r} where Django's SessionMiddleware goes.",
                id="byo_sessions.E026",
            )
        )
    if SESSION_MIDDLEWARE in middleware and not ours_engine:
        messages.append(
            Error(
                f"{SESSION_MIDDLEWARE!r} is in MIDDLEWARE but SESSION_ENGINE is "
                f"{getattr(settings, 'SESSION_ENGINE', '')!r}: byo sessions need their engine.",
                hint=f"SESSION_ENGINE = {ENGINE!r}",
                id="byo_sessions.E027",
            )
        )
    if SESSION_MIDDLEWARE in middleware and DJANGO_SESSION_MIDDLEWARE in middleware:
        messages.append(
            Error(
                f"Both {DJANGO_SESSION_MIDDLEWARE!r} and {SESSION_MIDDLEWARE!r} are in MIDDLEWARE: the later one "
                "replaces request.session of the earlier.",
                hint=f"Remove {DJANGO_SESSION_MIDDLEWARE!r}.",
                id="byo_sessions.E028",
            )
        )
    if SESSION_MIDDLEWARE in middleware:
        messages.extend(_check_auth_middleware(middleware))
    return messages


def _check_auth_middleware(middleware: list[str]) -> list[CheckMessage]:
    """Ours or Django's, an authentication middleware reads request.session: before ours,
    every request fails (ImproperlyConfigured)."""
    session_at = middleware.index(SESSION_MIDDLEWARE)
    for auth in (AUTH_MIDDLEWARE, DJANGO_AUTH_MIDDLEWARE):
        if auth in middleware and middleware.index(auth) < session_at:
            return [
                Error(
                    f"{auth!r} comes before {SESSION_MIDDLEWARE!r}: it needs request.session.",
                    hint=f"Put {AUTH_MIDDLEWARE!r} after {SESSION_MIDDLEWARE!r}, where Django's "
                    "AuthenticationMiddleware goes.",
                    id="byo_sessions.E024",
                )
            ]
    if AUTH_MIDDLEWARE in middleware:
        return []
    if DJANGO_AUTH_MIDDLEWARE in middleware:
        return [
            Warning(
                f"{DJANGO_AUTH_MIDDLEWARE!r} works with byo sessions but loads the user with a second "
                "query on every request.",
                hint=f"Use {AUTH_MIDDLEWARE!r} in its place.",
                id="byo_sessions.W004",
            )
        ]
    return []


@register(Tags.security, "byo_sessions", deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's own W010/W013 look for django.contrib.sessions; ask the same of ours."""
    if getattr(settings, "SESSION_ENGINE", "") != ENGINE:
        return []
    messages: list[CheckMessage] = []
    if not settings.SESSION_COOKIE_SECURE:
        messages.append(
            Warning(
                "SESSION_COOKIE_SECURE is not True: the session token can travel in clear text.",
                hint="SESSION_COOKIE_SECURE = True (and serve the site over HTTPS).",
                id="byo_sessions.W010",
            )
        )
    if not settings.SESSION_COOKIE_HTTPONLY:
        messages.append(
            Warning(
                "SESSION_COOKIE_HTTPONLY is not True: scripts on the page can read the session token.",
                hint="SESSION_COOKIE_HTTPONLY = True",
                id="byo_sessions.W013",
            )
        )
    if _revocation_backend() == _LOCMEM_CACHE:
        messages.append(
            Warning(
                f"BYO_SESSIONS['STATELESS_REVOCATION_CACHE'] names {byo_settings.STATELESS_REVOCATION_CACHE!r}, a "
                "local-memory cache: a session ended in one process is not refused by the others.",
                hint="Use a cache every process shares (Redis, Memcached, the database cache).",
                id="byo_sessions.W040",
            )
        )
    return messages
