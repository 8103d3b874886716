"""Django admin: sessions (with a per-session timeline and "end" actions), devices,
tag policies (validated in words a non-engineer can act on) and the audit trail.

Tokens never appear here: the models only hold their hashes, and those are neither shown
nor filterable (``lookups.py``). Ending sessions needs ``byo_sessions.end_session``, not
just the view permission.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .. import selectors
from ..core import clock
from ..core.policy import (
    POLICY_KEYS,
    PolicySet,
    PolicyValueError,
    rule_consistency_errors,
    selector_error,
    validate_overrides,
)
from ..core.tags import is_valid_tag_type
from ..core.user_agent import UserAgentSummary
from ..models import AuditEvent, Device, EndReason, PolicySetting, Session, SessionQuerySet, SigningKey, TagPolicy
from ..services import expiry, policies
from ..services import sessions as session_service
from ..services.audit import EventType
from ..services.signing_keys import key_state
from .lookups import SecretSafeAdmin
from .policy_io import PolicyJsonMixin


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(expiry.ACTIVE, "Active"), (expiry.EXPIRED, "Expired, not yet marked"), (expiry.ENDED, "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> QuerySet[Session]:
        """What the status column shows: expiry under each session's policy (inactivity too)."""
        wanted = self.value()
        if wanted is None:
            return queryset
        # Django types it as a QuerySet; it is Session.objects' own (SessionQuerySet).
        return expiry.with_status(cast(SessionQuerySet, queryset), wanted, clock.now())


# What an operator checks first: theft, refused proofs, new devices, limits, changes.
SECURITY_EVENTS = (
    (EventType.TOKEN_REUSE_DETECTED, "Token reuse (theft) detected"),
    (EventType.DEVICE_VERIFICATION_FAILED, "Device proof refused"),
    (EventType.NEW_DEVICE_DETECTED, "New device"),
    (EventType.SESSION_LIMIT_EXCEEDED, "Login refused by a session limit"),
    (EventType.USER_AGENT_CHANGED, "Suspicious User-Agent change"),
    (EventType.IP_CHANGED, "IP address change"),
    (EventType.VALIDATION_FAILED, "Validation failed"),
    (EventType.POLICY_CHANGED, "Policy changed"),
)
RECENT_HOURS = 24


def recent_security_events(now: Any) -> list[tuple[str, str, int, str]]:
    """(event type, label, count, audit-list query) for the last day: one aggregate query."""
    since = now - timedelta(hours=RECENT_HOURS)
    counts = selectors.event_counts(since=since, event_types=[t for t, _ in SECURITY_EVENTS])
    return [(str(t), label, counts.get(t, 0),
             urlencode({"event_type__exact": t, "created_at__gte": since.isoformat(sep=" ")}))
            for t, label in SECURITY_EVENTS]


@admin.register(Session)
class SessionAdmin(SecretSafeAdmin):
    list_display = ("id", "owner", "client_display", "last_ip_address", "created_at", "last_activity_at",
                    "status", "end_reason")
    list_filter = (StatusFilter, "end_reason", "created_at")
    search_fields = ("id", "user__username", "user__email", "external_user_id", "ip_address", "last_ip_address")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ("end_selected",)
    readonly_fields = ("id", "user", "external_user_id", "created_at", "last_activity_at", "expires_at",
                       "token_issued_at", "generation", "ended_at", "end_reason", "ended_by", "ip_address",
                       "last_ip_address", "user_agent", "last_user_agent", "client", "tags", "metadata", "device",
                       "timeline")
    exclude = ("token_hash", "previous_token_hash", "previous_token_valid_until")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; sessions end through the action, never by editing

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # ended sessions stay for inspection; byo_prune deletes them

    def has_end_permission(self, request: HttpRequest) -> bool:
        """Ending is its own permission: staff who may only view sessions must not end them."""
        user: Any = request.user
        return bool(user.has_perm(f"{self.opts.app_label}.end_session"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        summary = expiry.status_counts(clock.now())
        user: Any = request.user
        if user.has_perm("byo_sessions.view_auditevent"):  # the counts come from the audit log
            summary["recent"] = recent_security_events(clock.now())
        return super().changelist_view(request, {**(extra_context or {}), "byo_overview": summary})

    @admin.display(description="user")
    def owner(self, obj: Session) -> str:
        return str(obj.user) if obj.user_id is not None else f"{obj.external_user_id} (external)"

    @admin.display(description="browser")
    def client_display(self, obj: Session) -> str:
        return UserAgentSummary.from_dict(obj.client).display_name

    @admin.display(description="status")
    def status(self, obj: Session) -> str:
        return expiry.status(obj, clock.now())

    @admin.display(description="timeline")
    def timeline(self, obj: Session) -> str:
        events = selectors.session_timeline(obj.id)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"), e.event_type, e.reason,
              e.ip_address or "", e.actor) for e in events),
        )
        return format_html("<table><tr><th>time</th><th>event</th><th>reason</th><th>IP</th><th>actor</th></tr>"
                           "{}</table>", rows)

    @admin.action(description="End the selected sessions", permissions=["end"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        result = session_service.invalidate_where(queryset=queryset, reason=EndReason.ADMIN, actor=_actor(request))
        self.message_user(request, f"Ended {result.data} session(s).", messages.SUCCESS)


@admin.register(Device)
class DeviceAdmin(SecretSafeAdmin):
    list_display = ("id", "user", "external_user_id", "display_name", "thumbprint", "first_seen_at",
                    "last_seen_at", "last_ip_address", "remembered")
    search_fields = ("id", "user__username", "external_user_id", "thumbprint", "display_name")
    list_filter = ("remembered",)
    readonly_fields = ("id", "user", "external_user_id", "thumbprint", "public_jwk", "first_seen_at",
                       "last_seen_at", "last_ip_address", "last_user_agent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class PolicySettingForm(forms.ModelForm):
    key = forms.ChoiceField(choices=[("tag_priority", "Tag priority (tag types, strongest first)"),
                                     ("on_create_only_tags", "Tag types that cannot change after creation"),
                                     ("defaults", "Policy defaults (over the BYO_SESSIONS settings)")])

    class Meta:
        model = PolicySetting
        fields = ("key", "value")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        key, value = data.get("key"), data.get("value")
        if key == "defaults":
            if not isinstance(value, dict):
                self.add_error("value", 'Write a JSON object, e.g. {"absolute_lifetime_secs": 43200}.')
                return data
            for path, message in _defaults_errors(value):
                self.add_error("value", f"{path}: {message}")
            return data
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add_error("value", 'Write a JSON list of tag types, e.g. ["org", "role"].')
            return data
        allow_all = key == "on_create_only_tags"
        bad = [item for item in value if not (is_valid_tag_type(item) or (allow_all and item == "*"))]
        if bad:
            self.add_error("value", f"Not tag types: {', '.join(bad)}. A tag type is like org or login_type.")
        elif len(set(value)) != len(value):
            self.add_error("value", "Each tag type may be listed once.")
        return data


def _defaults_errors(value: dict[str, Any]) -> list[tuple[str, str]]:
    """What the import would refuse in ``defaults``, the same-entry timeout rule included."""
    try:
        cleaned = validate_overrides(value, path="defaults")
        PolicySet(defaults=cleaned)
    except PolicyValueError as exc:
        return exc.errors
    return rule_consistency_errors(cleaned, "defaults",
                                   min_inactivity_timeout_secs=policies.min_inactivity_timeout_secs())


def _audit_policy_change(request: HttpRequest, what: str, details: dict[str, Any]) -> None:
    policies.record_change(actor=_actor(request), reason=what, details=details)


class PolicyAuditMixin:
    """Every change to the policy set made in the admin is an audit event."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        _audit_policy_change(request, "admin_change" if change else "admin_add",
                             {"object": str(obj), "fields": sorted(form.changed_data)})

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        _audit_policy_change(request, "admin_delete", {"object": str(obj)})
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        _audit_policy_change(request, "admin_delete", {"objects": [str(o) for o in queryset]})
        super().delete_queryset(request, queryset)  # type: ignore[misc]


class TagPolicyForm(forms.ModelForm):
    """Refuses whatever ``PolicyRule`` would refuse, so a saved row is never a rule the loader drops.

    Selector, priority and each policy key are also checked by the model's validators
    (the same functions from ``policy.py``); ``clean`` adds the rules that span fields.
    """

    class Meta:
        model = TagPolicy
        fields = "__all__"
        help_texts = {"description": "Names this rule in error messages and audit events "
                                     "(the import's \"label\"); empty means the selector."}

    def clean_selector(self) -> str:
        selector = self.cleaned_data["selector"].strip()
        problem = selector_error(selector)
        if problem is not None:
            raise forms.ValidationError(problem)
        return selector

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        overrides = {key: data.get(key) for key in POLICY_KEYS}
        try:
            cleaned = validate_overrides(overrides, path="")
        except PolicyValueError as exc:
            errors = exc.errors
        else:
            errors = rule_consistency_errors(cleaned,
                                             min_inactivity_timeout_secs=policies.min_inactivity_timeout_secs())
        for path, message in errors:
            key = path.lstrip(".").split("[")[0].split(".")[0]
            self.add_error(key if key in self.fields else None, message)
        return data


@admin.register(TagPolicy)
class TagPolicyAdmin(PolicyJsonMixin, PolicyAuditMixin, SecretSafeAdmin):
    form = TagPolicyForm
    list_display = ("selector", "priority", "absolute_lifetime_secs", "inactivity_timeout_secs",
                    "max_concurrent_sessions_per_user", "on_ip_address_change", "device_verification_required",
                    "updated_at")
    search_fields = ("selector", "description")
    fieldsets = (
        (None, {"fields": ("selector", "priority", "description")}),
        ("Lifetimes", {"fields": ("absolute_lifetime_secs", "inactivity_timeout_secs", "rotation_interval_secs",
                                  "allow_session_extension", "max_extended_lifetime_secs")}),
        ("Networks", {"fields": ("ip_allowlist", "ip_blocklist", "disallow_ip_address_changes",
                                 "on_ip_address_change", "on_country_change")}),
        ("Browser and device", {"fields": ("on_user_agent_change", "device_verification_required")}),
        ("Concurrent sessions", {"fields": ("max_concurrent_sessions_per_user",
                                            "max_concurrent_sessions_per_user_per_tag",
                                            "on_session_limit_exceeded")}),
    )


@admin.register(PolicySetting)
class PolicySettingAdmin(PolicyAuditMixin, SecretSafeAdmin):
    form = PolicySettingForm
    list_display = ("key", "value", "updated_at")


class ReadOnlyAdmin(SecretSafeAdmin):
    """Rows written only by the library (append-only trail, keys): view, never edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "session_id", "user_ref", "ip_address", "reason", "actor")
    list_filter = ("event_type", "reason", "created_at")
    search_fields = ("session_id", "user_ref", "ip_address", "actor")
    date_hierarchy = "created_at"


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    """Read-only: keys are made and retired by ``sessions.rotate_stateless_token_key`` /
    ``manage.py byo_rotate_keys``. The (encrypted) private key is never shown."""

    list_display = ("kid", "algorithm", "state", "created_at", "becomes_default_at", "expires_at")
    fields = ("kid", "algorithm", "state", "created_at", "becomes_default_at", "expires_at", "public_jwk")
    readonly_fields = fields
    exclude = ("private_key_encrypted",)
    search_fields = ("kid",)

    @admin.display(description="state")
    def state(self, obj: SigningKey) -> str:
        return key_state(obj)
