"""System checks for ``BYO_SESSIONS``: wrong values fail ``manage.py check`` with a
message that says what to write instead."""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, byo_settings

_POSITIVE_INTS = ("ABSOLUTE_LIFETIME_SECS", "TOUCH_INTERVAL_SECS", "DEVICE_CHALLENGE_TTL_SECS",
                  "DEVICE_PROOF_MAX_AGE_SECS", "POLICY_REFRESH_SECS")
_OPTIONAL_POSITIVE_INTS = ("INACTIVITY_TIMEOUT_SECS", "ROTATION_INTERVAL_SECS", "MAX_SESSIONS_PER_USER")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register(Tags.security, "byo_sessions")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    raw = byo_settings.user_keys()
    if not isinstance(getattr(settings, "BYO_SESSIONS", {}) or {}, dict):
        return [Error("BYO_SESSIONS must be a dict.", id="byo_sessions.E001")]
    for key in sorted(set(raw) - set(DEFAULTS)):
        errors.append(Error(f"BYO_SESSIONS has an unknown key {key!r}.",
                            hint="See docs/settings.md for the keys.", id="byo_sessions.E002"))
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
    samesite = byo_settings.COOKIE_SAMESITE
    if samesite not in ("Lax", "Strict", "None", None, False):
        errors.append(Error(f"BYO_SESSIONS['COOKIE_SAMESITE'] must be 'Lax', 'Strict' or 'None', not {samesite!r}.",
                            id="byo_sessions.E006"))
    name = byo_settings.cookie_name
    if name.startswith("__Host-") and (not byo_settings.cookie_secure or byo_settings.COOKIE_PATH != "/"
                                       or byo_settings.COOKIE_DOMAIN):
        errors.append(Error(f"The cookie name {name!r} needs Secure, Path=/ and no Domain.",
                            hint="Set COOKIE_SECURE=True, COOKIE_PATH='/', COOKIE_DOMAIN=None, or another name.",
                            id="byo_sessions.E007"))
    if not byo_settings.cookie_secure and not settings.DEBUG:
        errors.append(Warning("The session cookie is not Secure outside DEBUG.", id="byo_sessions.W001"))
    prefix = byo_settings.TOKEN_PREFIX
    if not isinstance(prefix, str) or re.fullmatch(r"[A-Za-z0-9_]{1,16}", prefix) is None:
        errors.append(Error(f"BYO_SESSIONS['TOKEN_PREFIX'] must be 1-16 letters, digits or '_', not {prefix!r}.",
                            id="byo_sessions.E008"))
    count = byo_settings.PROXY_COUNT
    if not _is_int(count) or count < 0:
        errors.append(Error(f"BYO_SESSIONS['PROXY_COUNT'] must be an integer >= 0, not {count!r}.",
                            id="byo_sessions.E009"))
    errors.extend(_check_lists())
    errors.extend(_check_integration_keys())
    errors.extend(_check_stateless_tokens())
    if not any(isinstance(e, Error) for e in errors):  # the flat keys feed the policy: report each once
        errors.extend(_check_policy_defaults())
    return errors


def _check_lists() -> list[Any]:
    from .network import InvalidNetwork, parse_networks
    from .tags import is_valid_tag_type

    errors: list[Any] = []
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


def _check_integration_keys() -> list[Any]:
    value = byo_settings.SERVER_INTEGRATION_KEYS
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
                                                for v in value):
        return []
    return [Error("BYO_SESSIONS['SERVER_INTEGRATION_KEYS'] must be a list of SHA-256 hex digests "
                  "(64 lowercase hex characters), never the keys themselves.",
                  hint="Run 'manage.py byo_integration_key' and paste the digest it prints.",
                  id="byo_sessions.E013")]


def _check_stateless_tokens() -> list[Any]:
    errors: list[Any] = []
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


def _check_policy_defaults() -> list[Any]:
    from .policy import PolicyValueError
    from .policy_store import settings_policy_set

    try:
        settings_policy_set()  # the same validation the live policy set gets
    except PolicyValueError as exc:
        return [Error(f"BYO_SESSIONS policy default {path}: {message}", id="byo_sessions.E010")
                for path, message in exc.errors]
    return []
