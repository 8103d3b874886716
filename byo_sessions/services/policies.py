"""The policy set as a JSON document: export it for version control, import it back.

An import is all-or-nothing: the whole document is validated first (every error is
reported with its key path), then rules and policy-wide settings are replaced in one
transaction, and every process picks the new set up within ``POLICY_REFRESH_SECS``.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction

from . import audit
from .. import policy_store
from .audit import Event, EventType
from ..models import PolicySetting, TagPolicy
from ..core.policy import POLICY_KEYS, PolicySet, parse_policy_document, policy_document


def export_document() -> dict[str, Any]:
    """The live policy set (defaults include those from settings) as the import format."""
    return policy_document(policy_store.current())


def _stored_value(value: Any) -> Any:
    """Cleaned values (networks, enums) back to JSON-friendly ones for the model fields."""
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value"), str):
        return value.value
    return value


def import_document(doc: Any, *, actor: str = "", dry_run: bool = False) -> PolicySet:
    """Validate ``doc`` and replace the stored policy set with it (raises ``PolicyValueError``)."""
    policy_set = parse_policy_document(doc)
    if dry_run:
        return policy_set
    exported = policy_document(policy_set)
    with transaction.atomic():
        TagPolicy.objects.all().delete()
        rows = []
        for rule in policy_set.rules:
            fields = {key: _stored_value(rule.overrides[key]) for key in POLICY_KEYS if key in rule.overrides}
            rows.append(TagPolicy(selector=rule.selector, priority=rule.priority,
                                  description=rule.label if rule.label != rule.selector else "", **fields))
        TagPolicy.objects.bulk_create(rows)
        for key, value in ((policy_store.TAG_PRIORITY_KEY, exported["tag_priority"]),
                           (policy_store.CREATE_ONLY_KEY, exported["on_create_only_tags"]),
                           (policy_store.DEFAULTS_KEY, exported["defaults"])):
            PolicySetting.objects.update_or_create(key=key, defaults={"value": value})
        policy_store.bump_version()
        audit.record(Event(EventType.POLICY_CHANGED, actor=actor, reason="import",
                           details={"rules": len(rows), "tag_priority": exported["tag_priority"]}))
    return policy_set
