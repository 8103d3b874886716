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

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.http import HttpRequest
from django.views.debug import get_default_exception_reporter_filter

from .conf import DEFAULT_COOKIE_NAME, DEFAULTS, SECURE_COOKIE_PREFIX, byo_settings

_POSITIVE_INTS = ("ABSOLUTE_LIFETIME_SECS", "TOUCH_INTERVAL_SECS", "DEVICE_CHALLENGE_TTL_SECS",
                  "DEVICE_PROOF_MAX_AGE_SECS", "POLICY_REFRESH_SECS")
_OPTIONAL_POSITIVE_INTS = ("INACTIVITY_TIMEOUT_SECS", "ROTATION_INTERVAL_SECS", "MAX_SESSIONS_PER_USER")
_BOOLEANS = ("COOKIE_HTTPONLY", "COOKIE_PERSISTENT", "ALLOW_BEARER")
_OPTIONAL_BOOLEANS = ("COOKIE_SECURE",)  # None: decided from settings.DEBUG
_POLICY_INPUTS = ("ABSOLUTE_LIFETIME_SECS", "INACTIVITY_TIMEOUT_SECS", "ROTATION_INTERVAL_SECS",
                  "MAX_SESSIONS_PER_USER", "ON_SESSION_LIMIT_EXCEEDED", "DEFAULT_POLICY", "TAG_PRIORITY",
                  "CREATE_ONLY_TAG_TYPES")
# RFC 9110 token, which is also RFC 6265's cookie-name: what a header or cookie name may hold.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL_OR_SEMICOLON = re.compile(r"[\x00-\x1f\x7f;]")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
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
        return [Error(f"{names} could not be checked ({type(exc).__name__}: {exc}); one of them has a value "
                      f"of the wrong type.", hint="See docs/settings.md for each key's type.",
                      id="byo_sessions.E023")]


def _check_unknown_keys() -> list[CheckMessage]:
    unknown = set(byo_settings.user_keys()) - set(DEFAULTS)
    return [Error(f"BYO_SESSIONS has an unknown key {key!r}.", hint="See docs/settings.md for the keys.",
                  id="byo_sessions.E002") for key in sorted(unknown, key=repr)]


def _check_numbers() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in _POSITIVE_INTS:
        value = getattr(byo_settings, key)
        if not _is_int(value) or value <= 0:
            errors.append(Error(f"BYO_SESSIONS[{key!r}] must be a positive integer, not {value!r}.",
                                id="byo_sessions.E003"))
    for key in _OPTIONAL_POSITIVE_INTS:
        value = getattr(byo_settings, key)
        if value is not None and (not _is_int(value) or value <= 0):
            errors.append(Error(f"BYO_SESSIONS[{key!r}] must be a positive integer or None, not {value!r}.",
                                id="byo_sessions.E004"))
    grace = byo_settings.ROTATION_GRACE_SECS
    if not _is_int(grace) or not 0 <= grace <= 300:
        errors.append(Error(f"BYO_SESSIONS['ROTATION_GRACE_SECS'] must be an integer from 0 to 300, not {grace!r}.",
                            id="byo_sessions.E005"))
    count = byo_settings.PROXY_COUNT
    if not _is_int(count) or count < 0:
        errors.append(Error(f"BYO_SESSIONS['PROXY_COUNT'] must be an integer >= 0, not {count!r}.",
                            id="byo_sessions.E009"))
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
    errors = _check_cookie_attributes()
    name = byo_settings.COOKIE_NAME
    if name is not None and not _is_token(name):
        errors.append(Error(f"BYO_SESSIONS['COOKIE_NAME'] must be None (the default name) or a non-empty cookie "
                            f"name of letters, digits and !#$%&'*+-.^_`|~ (RFC 6265), not {name!r}.",
                            id="byo_sessions.E018"))
        return errors
    name = byo_settings.cookie_name
    if name.startswith(SECURE_COOKIE_PREFIX) and (not byo_settings.cookie_secure or byo_settings.COOKIE_PATH != "/"
                                                  or byo_settings.COOKIE_DOMAIN):
        errors.append(Error(f"The cookie name {name!r} needs Secure, Path=/ and no Domain.",
                            hint="Set COOKIE_SECURE=True, COOKIE_PATH='/', COOKIE_DOMAIN=None, or another name.",
                            id="byo_sessions.E007"))
    if not byo_settings.cookie_secure and not settings.DEBUG:
        errors.append(Warning("The session cookie is not Secure outside DEBUG.", id="byo_sessions.W001"))
    errors.extend(_check_cookie_hidden_in_error_reports(name))
    return errors


def _check_cookie_attributes() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    samesite = byo_settings.COOKIE_SAMESITE
    if samesite not in ("Lax", "Strict", "None", None, False):
        errors.append(Error(f"BYO_SESSIONS['COOKIE_SAMESITE'] must be 'Lax', 'Strict' or 'None', not {samesite!r}.",
                            id="byo_sessions.E006"))
    path = byo_settings.COOKIE_PATH
    if not isinstance(path, str) or not path.startswith("/") or _CONTROL_OR_SEMICOLON.search(path):
        errors.append(Error(f"BYO_SESSIONS['COOKIE_PATH'] must be a path starting with '/' (no ';' or control "
                            f"characters), not {path!r}.", id="byo_sessions.E019"))
    domain = byo_settings.COOKIE_DOMAIN
    if domain is not None and not (isinstance(domain, str) and _DOMAIN.fullmatch(domain)):
        errors.append(Error(f"BYO_SESSIONS['COOKIE_DOMAIN'] must be None (host-only cookie) or a domain such as "
                            f"'example.com', not {domain!r}.", id="byo_sessions.E019"))
    return errors


def _check_cookie_hidden_in_error_reports(name: str) -> list[CheckMessage]:
    """The cookie holds a raw token; error reports (500 emails, logs, the DEBUG page) list
    request cookies, masking only those the project's exception reporter filter hides."""
    if _hidden_in_error_reports(name):
        return []
    return [Warning(f"The session cookie name {name!r} is not hidden by the exception reporter filter "
                    f"({settings.DEFAULT_EXCEPTION_REPORTER_FILTER}): error reports would show raw session tokens.",
                    hint=f"Leave BYO_SESSIONS['COOKIE_NAME'] unset (the default {DEFAULT_COOKIE_NAME!r} is hidden "
                         f"by Django's filter), or pick a name your filter hides.",
                    id="byo_sessions.W002")]


def _hidden_in_error_reports(name: str) -> bool:
    """Asked of the filter itself, so a custom filter's own rules count."""
    request = HttpRequest()
    request.COOKIES = {name: _PROBE}
    return get_default_exception_reporter_filter().get_safe_cookies(request).get(name) != _PROBE


def _check_transport() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    prefix = byo_settings.TOKEN_PREFIX
    if not isinstance(prefix, str) or re.fullmatch(r"[A-Za-z0-9_]{1,16}", prefix) is None:
        errors.append(Error(f"BYO_SESSIONS['TOKEN_PREFIX'] must be 1-16 letters, digits or '_', not {prefix!r}.",
                            id="byo_sessions.E008"))
    header = byo_settings.REFRESHED_TOKEN_HEADER
    if not _is_token(header):
        errors.append(Error(f"BYO_SESSIONS['REFRESHED_TOKEN_HEADER'] must be an HTTP header name of letters, "
                            f"digits and !#$%&'*+-.^_`|~ (no spaces, ':' or line breaks), such as "
                            f"'BYO-Session-Token', not {header!r}.", id="byo_sessions.E020"))
    return errors


def _check_audit_logger() -> list[CheckMessage]:
    name = byo_settings.AUDIT_LOGGER
    if isinstance(name, str) and name.strip():
        return []
    return [Error(f"BYO_SESSIONS['AUDIT_LOGGER'] must be a logger name such as 'byo_sessions.audit', not {name!r}.",
                  id="byo_sessions.E021")]


def _check_default_policy_shape() -> list[CheckMessage]:
    value = byo_settings.DEFAULT_POLICY
    if value is None or isinstance(value, dict):
        return []
    return [Error(f"BYO_SESSIONS['DEFAULT_POLICY'] must be a dict of policy keys such as "
                  f"{{'absolute_lifetime_secs': 3600}}, not {value!r}.", id="byo_sessions.E022")]


def _check_lists() -> list[CheckMessage]:
    from .network import InvalidNetwork, parse_networks
    from .tags import is_valid_tag_type

    errors: list[CheckMessage] = []
    for key, allow_all in (("TAG_PRIORITY", False), ("CREATE_ONLY_TAG_TYPES", True)):
        value = getattr(byo_settings, key)
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) and (is_valid_tag_type(v) or (allow_all and v == "*")) for v in value):
            errors.append(Error(f"BYO_SESSIONS[{key!r}] must be a list of tag types such as ['org', 'role'], "
                                f"not {value!r}.", id="byo_sessions.E011"))
    proxies = byo_settings.TRUSTED_PROXIES
    try:
        if not isinstance(proxies, (list, tuple)):
            raise InvalidNetwork(proxies, "must be a list")
        parse_networks(list(proxies))
    except InvalidNetwork as exc:
        errors.append(Error(f"BYO_SESSIONS['TRUSTED_PROXIES'] must be a list of networks (CIDR): {exc}",
                            id="byo_sessions.E012"))
    return errors


def _check_integration_keys() -> list[CheckMessage]:
    value = byo_settings.SERVER_INTEGRATION_KEYS
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
                                                for v in value):
        return []
    return [Error("BYO_SESSIONS['SERVER_INTEGRATION_KEYS'] must be a list of SHA-256 hex digests "
                  "(64 lowercase hex characters), never the keys themselves.",
                  hint="Run 'manage.py byo_integration_key' and paste the digest it prints.",
                  id="byo_sessions.E013")]


def _check_stateless_tokens() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    longest = byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS
    if not _is_int(longest) or not 1 <= longest <= 86400:
        errors.append(Error(f"BYO_SESSIONS['STATELESS_TOKEN_MAX_LIFETIME_SECS'] must be an integer from 1 to 86400 "
                            f"(stateless tokens cannot be revoked: keep them short), not {longest!r}.",
                            id="byo_sessions.E014"))
        longest = 86400
    lifetime = byo_settings.STATELESS_TOKEN_LIFETIME_SECS
    if not _is_int(lifetime) or not 1 <= lifetime <= longest:
        errors.append(Error(f"BYO_SESSIONS['STATELESS_TOKEN_LIFETIME_SECS'] must be an integer from 1 to "
                            f"STATELESS_TOKEN_MAX_LIFETIME_SECS ({longest}), not {lifetime!r}.",
                            id="byo_sessions.E014"))
    for key in ("STATELESS_TOKEN_ISSUER", "STATELESS_TOKEN_AUDIENCE"):
        value = getattr(byo_settings, key)
        if not isinstance(value, str) or not value or len(value) > 255:
            errors.append(Error(f"BYO_SESSIONS[{key!r}] must be a non-empty string (at most 255 characters), "
                                f"such as 'https://auth.example.com', not {value!r}.", id="byo_sessions.E015"))
    refresh = byo_settings.STATELESS_KEY_REFRESH_SECS
    if not _is_int(refresh) or not 1 <= refresh <= 300:
        errors.append(Error(f"BYO_SESSIONS['STATELESS_KEY_REFRESH_SECS'] must be an integer from 1 to 300, "
                            f"not {refresh!r}.", id="byo_sessions.E016"))
    return errors


def _check_policy_defaults() -> list[CheckMessage]:
    from .policy import PolicyValueError
    from .policy_store import settings_policy_set

    try:
        settings_policy_set()  # the same validation the live policy set gets
    except PolicyValueError as exc:
        return [Error(f"BYO_SESSIONS policy default {path}: {message}", id="byo_sessions.E010")
                for path, message in exc.errors]
    return []


_CHECKS: tuple[tuple[Check, tuple[str, ...]], ...] = (
    (_check_unknown_keys, ()),
    (_check_numbers, _POSITIVE_INTS + _OPTIONAL_POSITIVE_INTS + ("ROTATION_GRACE_SECS", "PROXY_COUNT")),
    (_check_booleans, _BOOLEANS + _OPTIONAL_BOOLEANS),
    (_check_cookie, ("COOKIE_NAME", "COOKIE_SECURE", "COOKIE_SAMESITE", "COOKIE_PATH", "COOKIE_DOMAIN")),
    (_check_transport, ("TOKEN_PREFIX", "REFRESHED_TOKEN_HEADER")),
    (_check_audit_logger, ("AUDIT_LOGGER",)),
    (_check_default_policy_shape, ("DEFAULT_POLICY",)),
    (_check_lists, ("TAG_PRIORITY", "CREATE_ONLY_TAG_TYPES", "TRUSTED_PROXIES")),
    (_check_integration_keys, ("SERVER_INTEGRATION_KEYS",)),
    (_check_stateless_tokens, ("STATELESS_TOKEN_LIFETIME_SECS", "STATELESS_TOKEN_MAX_LIFETIME_SECS",
                               "STATELESS_TOKEN_ISSUER", "STATELESS_TOKEN_AUDIENCE", "STATELESS_KEY_REFRESH_SECS")),
)


_OUR_MIDDLEWARE = "byo_sessions.middleware.SessionMiddleware"
_DJANGO_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
_DJANGO_SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


@register(Tags.compatibility, "byo_sessions")
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's auth middleware *after* ours silently undoes every login (it replaces
    ``request.user`` with the user of Django's own, empty, session), or fails every request
    when Django's SessionMiddleware is gone; before ours it is only dead weight."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if _OUR_MIDDLEWARE not in middleware:
        return []
    messages: list[CheckMessage] = []
    if _DJANGO_AUTH_MIDDLEWARE in middleware:
        auth_at = middleware.index(_DJANGO_AUTH_MIDDLEWARE)
        sessions_before = _DJANGO_SESSION_MIDDLEWARE in middleware[:auth_at]
        if auth_at > middleware.index(_OUR_MIDDLEWARE) or not sessions_before:
            messages.append(Error(
                f"{_DJANGO_AUTH_MIDDLEWARE} is in MIDDLEWARE with {_OUR_MIDDLEWARE}: "
                + ("without Django's SessionMiddleware before it, it fails every request."
                   if not sessions_before else
                   "after ours, it replaces request.user with the user of Django's own session, so "
                   "byo_sessions logins look anonymous."),
                hint=f"Remove {_DJANGO_AUTH_MIDDLEWARE} (byo_sessions sets request.user itself).",
                id="byo_sessions.E024"))
        else:
            messages.append(Warning(
                f"{_DJANGO_AUTH_MIDDLEWARE} is in MIDDLEWARE before {_OUR_MIDDLEWARE}: harmless, since ours "
                "sets request.user afterwards, but it does nothing.",
                hint=f"Remove {_DJANGO_AUTH_MIDDLEWARE}.", id="byo_sessions.W004"))
    if _DJANGO_SESSION_MIDDLEWARE in middleware:
        messages.append(Warning(
            f"{_DJANGO_SESSION_MIDDLEWARE} is in MIDDLEWARE next to {_OUR_MIDDLEWARE}: a second session "
            "store that nothing of byo_sessions reads, with its own cookie and a query per request.",
            hint=f"Remove {_DJANGO_SESSION_MIDDLEWARE} unless another app needs request.session.",
            id="byo_sessions.W003"))
    return messages
