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
from django.contrib.admin.utils import quote, unquote
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.db.models.lookups import Exact
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .. import selectors, stats
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
from ..core.user_agent import UserAgentSummary, parse_user_agent
from ..models import (
    SESSION_ID_PREFIX,
    AuditEvent,
    BrowserFamily,
    Device,
    EndReason,
    PolicySetting,
    Session,
    SessionQuerySet,
    TagPolicy,
)
from ..services import devices as devices_service
from ..services import expiry, policies
from ..services import sessions as session_service
from ..services.audit import EventType
from ..values import Err
from . import keys  # noqa: F401  (registers the integration and signing key admins)
from .actions import DeviceActionsMixin, SessionActionsMixin, may_end, owner_label
from .display import EMPTY, chips, duration, event_title, owner_link, pretty_json, session_link, user_link, users_by_ref
from .lookups import SecretSafeAdmin
from .overview import OverviewMixin
from .policy_forms import CidrListField, DurationField, InheritBooleanSelect, spell_out_inherit
from .policy_io import PolicyJsonMixin
from .policy_tools import PolicyToolsMixin
from .scale import EstimatedCountPaginator, audit_search, looks_like_ip, session_search


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


# What an operator checks first (stats.py's list), and policy changes.
SECURITY_EVENTS = (*stats.SECURITY_EVENTS, (str(EventType.POLICY_CHANGED), str(EventType.POLICY_CHANGED.label)))
RECENT_HOURS = 24


def recent_security_events(now: Any) -> list[tuple[str, str, int, str]]:
    """(event type, label, count, audit-list query) for the last day: one aggregate query."""
    since = now - timedelta(hours=RECENT_HOURS)
    counts = selectors.event_counts(since=since, event_types=[t for t, _ in SECURITY_EVENTS])
    return [
        (
            str(t),
            label,
            counts.get(t, 0),
            urlencode({"event_type__exact": t, "created_at__gte": since.isoformat(sep=" ")}),
        )
        for t, label in SECURITY_EVENTS
    ]


class ScaleMixin:
    """Changelists that stay fast at millions of rows (``scale.py``): no full-table count,
    searches by indexed equality, no date drill-down (its ``DISTINCT`` scans the table;
    the date list filter narrows by ranges an index serves)."""

    paginator: type[Paginator] = EstimatedCountPaginator
    show_full_result_count = False
    search_q: Any = None  # the term -> Q function
    list_only: tuple[str, ...] = ()  # columns the changelist reads (the rest are deferred)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip() or self.search_q is None:
            return queryset, False
        return queryset.filter(type(self).search_q(search_term)), False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        match = getattr(request, "resolver_match", None)
        if self.list_only and match is not None and str(match.url_name).endswith("_changelist"):
            queryset = queryset.only(*self.list_only)
        return queryset


def _short_time(at: Any) -> str:
    """A list cell's time in the admin's time zone, as short as it can be told apart: the
    time alone today, the day and month this year, else the date; the full time in the
    tooltip (and on the session's page), so the list's columns fit a 1280 px screen."""
    local, today = timezone.localtime(at), timezone.localdate(clock.now())
    if local.date() == today:
        shown = local.strftime("%H:%M")
    elif local.year == today.year:
        shown = local.strftime("%d %b %H:%M")
    else:
        shown = local.strftime("%Y-%m-%d")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', at.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z"), shown
    )


def session_or_browser_search(term: str) -> Q:
    """``session_search``, and for a term that is no IP address or session id, also the
    sessions whose browser (the family read at login: "Firefox", "Chrome Mobile") it names,
    in any case: an equality on the indexed ``BrowserFamily`` expression."""
    term = term.strip()
    found = session_search(term)
    if looks_like_ip(term) is not None or term.startswith(SESSION_ID_PREFIX):
        return found
    return found | Q(Exact(BrowserFamily(), term.lower()))


class ReasonFilter(admin.SimpleListFilter):
    """The reasons an operator filters by, without the ``DISTINCT reason`` scan of the
    audit table Django's default filter runs on every page view."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in EndReason.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if self.value() is None else queryset.filter(reason=self.value())


SHORT_ID_RANDOM_CHARS = 8  # the end of an id: its first characters after "ses_" are its creation time


@admin.register(Session)
class SessionAdmin(SessionActionsMixin, OverviewMixin, ScaleMixin, SecretSafeAdmin):
    # Eight short columns, the state before the times, so what matters most shows beside the
    # admin's two sidebars at 1280 px (IP and tags may need the box's scroll there).
    list_display = (
        "short_id",
        "owner",
        "client_display",
        "status_and_reason",
        "created_short",
        "active_short",
        "last_ip_address",
        "tags_display",
    )
    list_display_links = ("short_id",)
    list_filter = (StatusFilter, "end_reason", "created_at")
    search_fields = ("id", "user__username", "user__email", "external_user_id", "ip_address", "last_ip_address")
    list_select_related = ("user",)
    search_q = session_or_browser_search
    search_help_text = (
        "A session id, an IP address, a user name, e-mail or id, an external user id, or a browser (Firefox)."
    )
    list_only = (
        "id",
        "user",
        "external_user_id",
        "client",
        "last_ip_address",
        "created_at",
        "last_activity_at",
        "expires_at",
        "ended_at",
        "end_reason",
        "tags",
    )  # status needs expiry, activity and tags
    actions = ("end_selected",)
    fieldsets = (
        (None, {"fields": ("id", "owner", "status", "tags_display", "device_link")}),
        (
            "Times",
            {
                "fields": (
                    "created_at",
                    "last_activity_at",
                    "expires_at",
                    "lifetime",
                    "ended_at",
                    "end_reason",
                    "ended_by",
                )
            },
        ),
        (
            "Client",
            {
                "fields": (
                    "client_display",
                    "ip_address",
                    "last_ip_address",
                    "country",
                    "city",
                    "network",
                    "user_agent",
                    "last_user_agent",
                )
            },
        ),
        ("Token", {"fields": ("generation", "token_issued_at")}),
        ("Metadata", {"fields": ("metadata_display",)}),
        ("Timeline", {"fields": ("timeline",)}),
    )
    readonly_fields = (
        "id",
        "owner",
        "status",
        "tags_display",
        "device_link",
        "created_at",
        "last_activity_at",
        "expires_at",
        "lifetime",
        "ended_at",
        "end_reason",
        "ended_by",
        "client_display",
        "ip_address",
        "last_ip_address",
        "country",
        "city",
        "network",
        "user_agent",
        "last_user_agent",
        "generation",
        "token_issued_at",
        "metadata_display",
        "timeline",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; sessions end through the actions, never by editing

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # ended sessions stay for inspection; byo_prune deletes them

    def has_end_permission(self, request: HttpRequest) -> bool:
        """Ending is its own permission: staff who may only view sessions must not end them."""
        return may_end(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # What SQL can decide (as the overview): a per-row policy pass over every live session
        # took 30 s at a million rows. A session past its policy's inactivity timeout counts as
        # active until its next request or byo_prune marks it (docs/admin.md).
        counts = selectors.session_counts(clock.now())
        summary: dict[str, Any] = {
            "active": counts.live,
            "expired_unmarked": counts.expired_unmarked,
            "ended": counts.ended_by_reason,
        }
        user: Any = request.user
        if user.has_perm("byo_sessions.view_auditevent"):  # the counts come from the audit log
            summary["recent"] = recent_security_events(clock.now())
        return super().changelist_view(request, {"title": "Sessions", **(extra_context or {}), "byo_overview": summary})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        # The admin's links quote the id ("_" is "_5F"): unquote it as Django's own view does.
        session = Session.objects.select_related("user").filter(pk=unquote(object_id)).first()
        context: dict[str, Any] = {"title": "Session", **(extra_context or {})}
        if session is not None:
            context.update(
                byo_may_end=may_end(request),
                byo_live=expiry.is_alive(session, clock.now()),
                byo_owner=owner_label(session),
                byo_has_owner=not session.is_anonymous,
                byo_owner_sessions=self._owner_sessions_url(session),
            )
        return super().change_view(request, object_id, form_url, context)

    @staticmethod
    def _owner_sessions_url(session: Session) -> str:
        base = reverse("admin:byo_sessions_session_changelist")
        if session.user_id is not None:
            return f"{base}?{urlencode({'user': session.user_id})}"
        if session.external_user_id is not None:
            return f"{base}?{urlencode({'external_user_id': session.external_user_id})}"
        return ""

    @admin.display(description="user", ordering="user__username")
    def owner(self, obj: Session) -> str:
        return owner_link(obj.user if obj.user_id is not None else None, obj.external_user_id)

    @admin.display(description="created", ordering="created_at")
    def created_short(self, obj: Session) -> str:
        return _short_time(obj.created_at)

    @admin.display(description="last active", ordering="last_activity_at")
    def active_short(self, obj: Session) -> str:
        return _short_time(obj.last_activity_at)

    @admin.display(description="browser")
    def client_display(self, obj: Session) -> str:
        summary = UserAgentSummary.from_dict(obj.client)
        if summary.browser is None:
            return summary.display_name
        # The browser's other sessions are one click away (the search by browser).
        url = reverse("admin:byo_sessions_session_changelist") + "?" + urlencode({"q": summary.browser})
        return format_html('<a href="{}" title="Sessions in {}">{}</a>', url, summary.browser, summary.display_name)

    @admin.display(description="tags")
    def tags_display(self, obj: Session) -> str:
        return chips(obj.tags)

    @admin.display(description="device")
    def device_link(self, obj: Session) -> str:
        if obj.device_id is None:
            return "Not bound to a device"
        url = reverse("admin:byo_sessions_device_change", args=[quote(obj.device_id)])
        return format_html('<a href="{}">{}</a>', url, obj.device_id)

    @admin.display(description="lifetime")
    def lifetime(self, obj: Session) -> str:
        now = clock.now()
        if obj.ended_at is not None:
            return f"Lasted {duration(obj.ended_at - obj.created_at)}"
        if obj.expires_at <= now:
            return f"Expired {duration(now - obj.expires_at)} ago"
        return f"{duration(now - obj.created_at)} old; expires at the latest in {duration(obj.expires_at - now)}"

    @admin.display(description="metadata")
    def metadata_display(self, obj: Session) -> str:
        return pretty_json(obj.metadata)

    @admin.display(description="status")
    def status(self, obj: Session) -> str:
        return expiry.status(obj, clock.now())

    @admin.display(description="session", ordering="id")
    def short_id(self, obj: Session) -> str:
        """The prefix and the id's last characters (the whole id in the tooltip and the
        link): an id starts with its creation time, shared by the sessions of the same
        second, and ends with random characters, unique long before 8; a full id takes a
        fifth of the list's width."""
        prefix = SESSION_ID_PREFIX if obj.id.startswith(SESSION_ID_PREFIX) else ""
        cut = len(prefix) + SHORT_ID_RANDOM_CHARS
        shown = obj.id if len(obj.id) <= cut + 1 else prefix + "\u2026" + obj.id[-SHORT_ID_RANDOM_CHARS:]
        return format_html('<span title="{}">{}</span>', obj.id, shown)

    @admin.display(description="status")
    def status_and_reason(self, obj: Session) -> str:
        """One column for the state and, once ended, why (the reason in words)."""
        state = expiry.status(obj, clock.now())
        if state == expiry.ENDED and obj.end_reason in EndReason.values:
            return f"Ended: {EndReason(obj.end_reason).label}"
        return {expiry.ACTIVE: "Active", expiry.EXPIRED: "Expired, not yet marked", expiry.ENDED: "Ended"}[state]

    @admin.display(description="timeline")
    def timeline(self, obj: Session) -> str:
        events = selectors.session_timeline(obj.id)
        reasons = dict(EndReason.choices)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    event_title(e.event_type),
                    reasons.get(e.reason, e.reason),
                    e.ip_address or "",
                    e.actor,
                )
                for e in events
            ),
        )
        return format_html(
            '<div class="byo-scroll"><table id="byo-timeline"><tr><th>Time</th><th>Event</th>'
            "<th>Reason</th><th>IP address</th><th>By</th></tr>{}</table></div>",
            rows,
        )

    @admin.action(description="End the selected sessions", permissions=["end"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        result = session_service.invalidate_where(queryset=queryset, reason=EndReason.ADMIN, actor=_actor(request))
        self.message_user(request, f"Ended {result.data} session(s).", messages.SUCCESS)


@admin.register(Device)
class DeviceAdmin(DeviceActionsMixin, SecretSafeAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = (
        "display",
        "owner",
        "browser",
        "first_seen_at",
        "last_seen_at",
        "last_ip_address",
        "remembered",
        "sessions_link",
    )
    list_select_related = ("user",)
    search_fields = ("id", "user__username", "external_user_id", "display_name")
    list_filter = ("remembered",)
    fields = (
        "id",
        "owner",
        "display_name",
        "browser",
        "first_seen_at",
        "last_seen_at",
        "last_ip_address",
        "country",
        "city",
        "network",
        "last_user_agent",
        "remembered",
        "sessions_link",
        "thumbprint",
    )
    readonly_fields = (
        "id",
        "owner",
        "browser",
        "first_seen_at",
        "last_seen_at",
        "last_ip_address",
        "country",
        "city",
        "network",
        "last_user_agent",
        "sessions_link",
        "thumbprint",
    )
    actions = ("revoke_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a bare delete would leave its sessions bound and alive: Revoke ends them too

    def has_end_permission(self, request: HttpRequest) -> bool:
        return may_end(request)

    @admin.action(description="Revoke the selected devices (end their sessions)", permissions=["end"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        ended = revoked = 0
        for device_id, user_id, external_user_id in queryset.values_list("pk", "user_id", "external_user_id"):
            result = devices_service.revoke(
                device_id=device_id,
                user_id=user_id,
                external_user_id=external_user_id,
                reason=EndReason.ADMIN,
                actor=_actor(request),
            )
            if not isinstance(result, Err):
                revoked, ended = revoked + 1, ended + result.data
        self.message_user(request, f"Revoked {revoked} device(s); ended {ended} session(s).", messages.SUCCESS)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {"title": "Devices", **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        return super().change_view(
            request, object_id, form_url, {"byo_may_end": may_end(request), **(extra_context or {})}
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields

    @admin.display(description="device", ordering="display_name")
    def display(self, obj: Device) -> str:
        return obj.display_name or parse_user_agent(obj.last_user_agent).display_name

    @admin.display(description="user", ordering="user__username")
    def owner(self, obj: Device) -> str:
        return owner_link(obj.user if obj.user_id is not None else None, obj.external_user_id)

    @admin.display(description="browser")
    def browser(self, obj: Device) -> str:
        return parse_user_agent(obj.last_user_agent).display_name

    @admin.display(description="sessions")
    def sessions_link(self, obj: Device) -> str:
        url = reverse("admin:byo_sessions_session_changelist")
        return format_html('<a href="{}?{}">Sessions on this device</a>', url, urlencode({"device": obj.pk}))

    @admin.display(description="key thumbprint")
    def thumbprint(self, obj: Device) -> str:
        return format_html(
            '<code>{}</code><div class="help">The RFC 7638 thumbprint of the key this browser '
            "keeps (it never leaves the browser): proofs signed with it show it is this device."
            "</div>",
            obj.thumbprint,
        )


class PolicySettingForm(forms.ModelForm):
    key = forms.ChoiceField(
        choices=[
            ("tag_priority", "Tag priority (tag types, strongest first)"),
            ("on_create_only_tags", "Tag types that cannot change after creation"),
            ("defaults", "Policy defaults (over the BYO_SESSIONS settings)"),
        ]
    )

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
    return rule_consistency_errors(
        cleaned, "defaults", min_inactivity_timeout_secs=policies.min_inactivity_timeout_secs()
    )


def _audit_policy_change(request: HttpRequest, what: str, details: dict[str, Any]) -> None:
    policies.record_change(actor=_actor(request), reason=what, details=details)


class PolicyAuditMixin:
    """Every change to the policy set made in the admin is an audit event."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        _audit_policy_change(
            request,
            "admin_change" if change else "admin_add",
            {"object": str(obj), "fields": sorted(form.changed_data)},
        )

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

    absolute_lifetime_secs = DurationField(
        required=False, label="Absolute lifetime", help_text="e.g. 12 hours or 14 days; empty inherits."
    )
    inactivity_timeout_secs = DurationField(
        required=False, label="Inactivity timeout", help_text="e.g. 30 minutes; empty inherits."
    )
    rotation_interval_secs = DurationField(
        required=False, label="Token rotation interval", help_text="e.g. 15 minutes; empty inherits."
    )
    max_extended_lifetime_secs = DurationField(
        required=False,
        label="Longest extended lifetime",
        help_text="The longest an extended session may live, counted from its creation (e.g. 30 days); empty inherits.",
    )
    ip_allowlist = CidrListField(
        required=False,
        label="IP allowlist",
        help_text="One network per line (10.0.0.0/8, 2001:db8::/32); empty inherits.",
    )
    ip_blocklist = CidrListField(
        required=False, label="IP blocklist", help_text="One network per line; empty inherits."
    )

    class Meta:
        model = TagPolicy
        fields = "__all__"
        widgets = {
            "disallow_ip_address_changes": InheritBooleanSelect,
            "device_verification_required": InheritBooleanSelect,
            "allow_session_extension": InheritBooleanSelect,
        }
        labels = {
            "max_concurrent_sessions_per_user": "Sessions per user",
            "max_concurrent_sessions_per_user_per_tag": "Sessions per user and tag",
            "on_ip_address_change": "When the IP address changes",
            "on_user_agent_change": "When the User-Agent changes",
            "on_country_change": "When the country changes",
            "on_session_limit_exceeded": "When the limit is reached",
            "disallow_ip_address_changes": "Refuse IP address changes",
            "allow_session_extension": "Allow extending the session",
        }
        help_texts = {
            "description": "Names this rule in error messages and audit events "
            '(the import\'s "label"); empty means the selector.'
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        spell_out_inherit(self)

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
            errors = rule_consistency_errors(
                cleaned, min_inactivity_timeout_secs=policies.min_inactivity_timeout_secs()
            )
        for path, message in errors:
            key = path.lstrip(".").split("[")[0].split(".")[0]
            self.add_error(key if key in self.fields else None, message)
        return data


@admin.register(TagPolicy)
class TagPolicyAdmin(PolicyToolsMixin, PolicyJsonMixin, PolicyAuditMixin, SecretSafeAdmin):
    form = TagPolicyForm
    list_display = (
        "selector",
        "priority",
        "absolute_lifetime_secs",
        "inactivity_timeout_secs",
        "max_concurrent_sessions_per_user",
        "on_ip_address_change",
        "device_verification_required",
        "updated_at",
    )
    search_fields = ("selector", "description")
    fieldsets = (
        (None, {"fields": ("selector", "priority", "description")}),
        (
            "Lifetimes",
            {
                "fields": (
                    "absolute_lifetime_secs",
                    "inactivity_timeout_secs",
                    "rotation_interval_secs",
                    "allow_session_extension",
                    "max_extended_lifetime_secs",
                )
            },
        ),
        (
            "Networks",
            {
                "fields": (
                    "ip_allowlist",
                    "ip_blocklist",
                    "disallow_ip_address_changes",
                    "on_ip_address_change",
                    "on_country_change",
                )
            },
        ),
        ("Browser and device", {"fields": ("on_user_agent_change", "device_verification_required")}),
        (
            "Concurrent sessions",
            {
                "fields": (
                    "max_concurrent_sessions_per_user",
                    "max_concurrent_sessions_per_user_per_tag",
                    "on_session_limit_exceeded",
                )
            },
        ),
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
class AuditEventAdmin(ScaleMixin, ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "session", "user", "ip_address", "reason", "actor")
    list_filter = ("event_type", ReasonFilter, "created_at")
    search_fields = ("session_id", "user_ref", "ip_address")
    search_q = audit_search
    fields = (
        "created_at",
        "event_type",
        "session",
        "user",
        "ip_address",
        "country",
        "city",
        "network",
        "user_agent",
        "reason",
        "actor",
        "details_display",
    )
    readonly_fields = fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {"title": "Audit events", **(extra_context or {})})

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Loads the page's users in one query, so the user column links names, not ids."""
        changelist = super().get_changelist_instance(request)
        self._users = users_by_ref([event.user_ref for event in changelist.result_list])
        return changelist

    @admin.display(description="session", ordering="session_id")
    def session(self, obj: AuditEvent) -> str:
        return session_link(obj.session_id)

    @admin.display(description="user", ordering="user_ref")
    def user(self, obj: AuditEvent) -> str:
        if not obj.user_ref:
            return EMPTY
        found = getattr(self, "_users", {}).get(obj.user_ref) or users_by_ref([obj.user_ref]).get(obj.user_ref)
        return user_link(found) if found is not None else format_html("{}", obj.user_ref)

    @admin.display(description="details")
    def details_display(self, obj: AuditEvent) -> str:
        return pretty_json(obj.details)
