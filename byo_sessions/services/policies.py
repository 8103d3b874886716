"""Policies: the live ``PolicySet`` (settings defaults + ``TagPolicy`` rows) and its JSON form.

The set is built once per process and kept in memory. A change made in admin, by the
import command or in code bumps ``PolicyVersion``; every process compares its cached
version with the row at most every ``POLICY_REFRESH_SECS`` seconds, so a change reaches
all processes within that time, without a restart and without a query per request.
The cache is also dropped when ``BYO_SESSIONS`` (or ``DEBUG``) changes (``setting_changed``).

The JSON document (``export_document`` / ``import_document``) is what version control
holds: an import is all-or-nothing (every error is reported with its key path), then
rules and policy-wide settings are replaced in one transaction. The rules themselves
(resolution, validation, the document format) are pure and live in ``core/policy.py``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save

from ..conf import byo_settings
from ..core import clock
from ..core.policy import (
    POLICY_KEYS,
    Policy,
    PolicyRule,
    PolicySet,
    PolicyValueError,
    parse_policy_document,
    policy_document,
    validate_overrides,
)
from ..models import PolicySetting, PolicyVersion, TagPolicy
from . import audit
from .audit import Event, EventType

logger = logging.getLogger("byo_sessions")

_lock = threading.Lock()
_cached: PolicySet | None = None
_cached_version: int | None = None
_checked_at: float = 0.0

TAG_PRIORITY_KEY = "tag_priority"
CREATE_ONLY_KEY = "on_create_only_tags"
DEFAULTS_KEY = "defaults"


# --- the live policy set ------------------------------------------------------------------


def settings_defaults(stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Policy defaults: ``BYO_SESSIONS`` flat keys, then ``DEFAULT_POLICY``, then the
    defaults stored in the database by an import (``stored``), each winning over the last."""
    raw: dict[str, Any] = {
        "absolute_lifetime_secs": byo_settings.ABSOLUTE_LIFETIME_SECS,
        "inactivity_timeout_secs": byo_settings.INACTIVITY_TIMEOUT_SECS,
        "rotation_interval_secs": byo_settings.ROTATION_INTERVAL_SECS,
        "max_concurrent_sessions_per_user": byo_settings.MAX_SESSIONS_PER_USER,
        "on_session_limit_exceeded": byo_settings.ON_SESSION_LIMIT_EXCEEDED,
    }
    # None means "not set here" at every layer, so the flat keys stay the floor.
    raw.update({k: v for k, v in (byo_settings.DEFAULT_POLICY or {}).items() if v is not None})
    raw.update({k: v for k, v in (stored or {}).items() if v is not None})
    return validate_overrides(raw, path="defaults")


# --- inactivity vs the touch interval ----------------------------------------------------

TOUCHES_PER_TIMEOUT = 2


def min_inactivity_timeout_secs() -> int:
    """The shortest inactivity timeout the admin and the import accept.

    Last activity is written at most every ``TOUCH_INTERVAL_SECS``, so it lags a request by
    up to that much; with fewer than two writes per timeout an active user could be logged
    out (a 20 s timeout under the default 60 s interval ended a session busy every 7 s)."""
    return TOUCHES_PER_TIMEOUT * byo_settings.TOUCH_INTERVAL_SECS


def touch_interval_secs(policy: Policy) -> int:
    """How stale ``last_activity_at`` may get before a request writes it again.

    ``TOUCH_INTERVAL_SECS``, clamped to half of a shorter inactivity timeout (a settings
    default the system check warns about, or a rule stored before the interval was raised),
    so an active session never expires at the cost of more writes."""
    interval = byo_settings.TOUCH_INTERVAL_SECS
    timeout = policy.inactivity_timeout_secs
    if timeout:
        interval = min(interval, max(1, timeout // TOUCHES_PER_TIMEOUT))
    return interval


def rule_from_row(row: Any) -> PolicyRule:
    """The rule a ``TagPolicy`` row stands for; ``description`` is its label (as the import stores
    it), so export -> import -> export gives the same document."""
    data = {key: getattr(row, key) for key in POLICY_KEYS}
    overrides = validate_overrides(data, path=row.selector)
    return PolicyRule(selector=row.selector, priority=row.priority, overrides=overrides, label=row.description)


def _read_version() -> int:
    row = PolicyVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def _valid_rules(rows: Any) -> tuple[PolicyRule, ...]:
    """Rows that fail validation (possible only by writing around admin and the importer)
    are left out, loudly, rather than taking every request down with them."""
    rules = []
    for row in rows:
        try:
            rules.append(rule_from_row(row))
        except PolicyValueError as exc:
            logger.error("byo_sessions: tag policy %r is invalid and ignored: %s", row.selector, exc.errors)
    return tuple(rules)


def _build() -> PolicySet:
    stored = dict(PolicySetting.objects.values_list("key", "value"))
    tag_priority = stored[TAG_PRIORITY_KEY] if TAG_PRIORITY_KEY in stored else byo_settings.TAG_PRIORITY
    create_only = stored[CREATE_ONLY_KEY] if CREATE_ONLY_KEY in stored else byo_settings.CREATE_ONLY_TAG_TYPES
    rules = _valid_rules(TagPolicy.objects.all())
    return PolicySet(
        defaults=settings_defaults(stored.get(DEFAULTS_KEY)),
        rules=rules,
        tag_priority=tag_priority,
        create_only_tag_types=create_only,
    )


def settings_policy_set() -> PolicySet:
    """The policy set from settings alone (what the system check validates)."""
    return PolicySet(
        defaults=settings_defaults(),
        tag_priority=tuple(byo_settings.TAG_PRIORITY),
        create_only_tag_types=tuple(byo_settings.CREATE_ONLY_TAG_TYPES),
    )


def current() -> PolicySet:
    """The policy set, re-checked against the version row at most every POLICY_REFRESH_SECS."""
    global _cached, _cached_version, _checked_at
    cached = _cached
    now = clock.now().timestamp()
    if cached is not None and 0 <= now - _checked_at < byo_settings.POLICY_REFRESH_SECS:
        return cached
    with _lock:
        version = _read_version()
        if _cached is None or version != _cached_version:
            try:
                _cached = _build()
            except (PolicyValueError, TypeError, ValueError) as exc:
                # Only stored policy-wide settings can get here (rules are checked one by
                # one, settings by the system check); serve the settings' own policy rather
                # than fail every request.
                logger.error("byo_sessions: the stored policy set is invalid: %s", getattr(exc, "errors", exc))
                if _cached is None:
                    _cached = settings_policy_set()
            _cached_version = version
        _checked_at = now
        return _cached


def resolve(tags: list[str] | tuple[str, ...]) -> Policy:
    """The policy of a session carrying ``tags``."""
    return current().resolve(tuple(tags))


def forget_cached() -> None:
    """Drop this process's cache (settings changed, or a policy was written here)."""
    global _cached, _cached_version, _checked_at
    with _lock:
        _cached = None
        _cached_version = None
        _checked_at = 0.0


def bump_version() -> None:
    """Tell every process that the policy set changed. Call inside the writing transaction."""
    updated = PolicyVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        PolicyVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    transaction.on_commit(forget_cached)
    forget_cached()


def _on_policy_write(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    bump_version()


def connect_signals() -> None:
    """Any save or delete of a rule or policy-wide setting, however made, bumps the version
    (called from ``AppConfig.ready``)."""
    for model in (TagPolicy, PolicySetting):
        post_save.connect(_on_policy_write, sender=model, dispatch_uid=f"byo_policy_save_{model.__name__}")
        post_delete.connect(_on_policy_write, sender=model, dispatch_uid=f"byo_policy_delete_{model.__name__}")


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    # The settings' own cache (conf.py) drops itself on the same signal.
    if setting in ("BYO_SESSIONS", "DEBUG"):
        forget_cached()


setting_changed.connect(_on_setting_changed, dispatch_uid="byo_sessions_policies_setting_changed")


# --- changes and the JSON document ------------------------------------------------------------


def record_change(*, actor: str, reason: str, details: dict[str, Any]) -> None:
    """Audit a change to the policy set made outside ``import_document`` (the admin)."""
    audit.record(Event(EventType.POLICY_CHANGED, actor=actor, reason=reason, details=details))


def export_document() -> dict[str, Any]:
    """The live policy set (defaults include those from settings) as the import format."""
    return policy_document(current())


def _stored_value(value: Any) -> Any:
    """Cleaned values (networks, enums) back to JSON-friendly ones for the model fields."""
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def import_document(doc: Any, *, actor: str = "", dry_run: bool = False) -> PolicySet:
    """Validate ``doc`` and replace the stored policy set with it (raises ``PolicyValueError``)."""
    policy_set = parse_policy_document(doc, min_inactivity_timeout_secs=min_inactivity_timeout_secs())
    if dry_run:
        return policy_set
    exported = policy_document(policy_set)
    with transaction.atomic():
        TagPolicy.objects.all().delete()
        rows = []
        for rule in policy_set.rules:
            fields = {key: _stored_value(rule.overrides[key]) for key in POLICY_KEYS if key in rule.overrides}
            rows.append(
                TagPolicy(
                    selector=rule.selector,
                    priority=rule.priority,
                    description=rule.label if rule.label != rule.selector else "",
                    **fields,
                )
            )
        TagPolicy.objects.bulk_create(rows)
        for key, value in (
            (TAG_PRIORITY_KEY, exported["tag_priority"]),
            (CREATE_ONLY_KEY, exported["on_create_only_tags"]),
            (DEFAULTS_KEY, exported["defaults"]),
        ):
            PolicySetting.objects.update_or_create(key=key, defaults={"value": value})
        bump_version()
        audit.record(
            Event(
                EventType.POLICY_CHANGED,
                actor=actor,
                reason="import",
                details={"rules": len(rows), "tag_priority": exported["tag_priority"]},
            )
        )
    return policy_set
