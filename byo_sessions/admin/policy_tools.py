"""Seeing a policy before it applies: the effective (merged) policy for any set of tags,
and a dry run of an edited rule (which live sessions it would end, refuse or challenge)
that can then be saved as it stands. The import's dry run uses the same preview
(``services/policy_preview.py``) and adds a diff (``policy_io.py``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ..core.policy import POLICY_KEYS, Policy, PolicyValueError
from ..core.tags import TagFormatError, parse_tag
from ..models import TagPolicy
from ..services import policies, policy_preview
from .display import user_link, users_by_ref
from .policy_forms import duration_text

_TITLES = {
    "absolute_lifetime_secs": "Absolute lifetime",
    "inactivity_timeout_secs": "Inactivity timeout",
    "rotation_interval_secs": "Token rotation interval",
    "ip_allowlist": "IP allowlist",
    "ip_blocklist": "IP blocklist",
    "disallow_ip_address_changes": "Refuse IP address changes",
    "on_ip_address_change": "When the IP address changes",
    "on_user_agent_change": "When the User-Agent changes",
    "max_concurrent_sessions_per_user": "Sessions per user",
    "max_concurrent_sessions_per_user_per_tag": "Sessions per user and tag",
    "on_session_limit_exceeded": "When the limit is reached",
    "device_verification_required": "Device verification required",
    "allow_session_extension": "Allow extending the session",
    "max_extended_lifetime_secs": "Longest extended lifetime",
}


def _shown(key: str, value: Any) -> str:
    if value is None or value == () or value == {}:
        return "none" if key.endswith(("_secs", "_user")) else "-"
    if key.endswith("_secs"):
        return duration_text(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def effective_rows(policy: Policy) -> list[tuple[str, str, str]]:
    """(setting, value in words, where it comes from) for each policy key."""
    rows = []
    for key in POLICY_KEYS:
        value = getattr(policy, key)
        rows.append((_TITLES.get(key, key), _shown(key, value), policy.source(key)))
    return rows


def preview_rows(found: policy_preview.PolicyPreview) -> list[tuple[Any, str, Any]]:
    """(affected session, outcome in words, user link) for the page: the users in one query."""
    users = users_by_ref([a.user_ref for a in found.sample])
    return [
        (a, policy_preview.OUTCOMES[a.outcome], user_link(users[a.user_ref]) if a.user_ref in users else a.user_ref)
        for a in found.sample
    ]


class PolicyToolsMixin:
    """``effective/`` and ``dry-run/`` on the tag policy admin."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site  # type: ignore[attr-defined]
        own = [
            path("effective/", site.admin_view(self.effective_view), name="byo_sessions_tagpolicy_effective"),
            path("dry-run/", site.admin_view(self.dry_run_view), name="byo_sessions_tagpolicy_dry_run"),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title,  # type: ignore[attr-defined]
            "opts": self.model._meta,  # type: ignore[attr-defined]
        }  # type: ignore[attr-defined]

    def effective_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        text = request.GET.get("tags", "")
        tags = [t for t in text.replace(",", " ").split() if t]
        bad = []
        for tag in tags:
            try:
                parse_tag(tag)
            except TagFormatError as exc:
                bad.append(str(exc))
        if bad:
            tags = []
        policy = policies.current().resolve(tuple(tags))
        context = {
            **self._context(request, "Effective policy"),
            "tags_text": text,
            "tags": tags,
            "bad_tags": bad,
            "rows": effective_rows(policy),
            "rules": policies.current().matching_rules(tags),
        }
        return TemplateResponse(request, "admin/byo_sessions/tagpolicy/effective.html", context)

    def dry_run_view(self, request: HttpRequest) -> HttpResponse:
        """POST of the change (or add) form: validate it, preview it, offer to save it."""
        if request.method != "POST":
            raise Http404("Post the policy form here.")
        object_id = request.GET.get("object_id") or ""
        instance = TagPolicy.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        allowed = (
            self.has_change_permission(request, instance)  # type: ignore[attr-defined]
            if instance is not None  # type: ignore[attr-defined]
            else self.has_add_permission(request)  # type: ignore[attr-defined]
        )  # type: ignore[attr-defined]
        if not allowed:
            raise PermissionDenied
        form_class = self.get_form(request, instance)  # type: ignore[attr-defined]
        form = form_class(request.POST, instance=instance)
        context = self._context(request, "Dry run of a policy change")
        save_url = (
            reverse("admin:byo_sessions_tagpolicy_change", args=[instance.pk])
            if instance is not None
            else reverse("admin:byo_sessions_tagpolicy_add")
        )
        context.update(
            form=form,
            save_url=save_url,
            posted=[(k, v) for k, values in request.POST.lists() for v in values if k != "csrfmiddlewaretoken"],
        )
        if form.is_valid():
            try:
                rule = policies.rule_from_row(form.instance)
                proposed = policy_preview.with_rule(
                    selector=rule.selector, rule=rule, replacing=instance.selector if instance is not None else None
                )
            except PolicyValueError as exc:
                context["rule_errors"] = exc.errors
            else:
                scope = policy_preview.scope_for_selector(rule.selector)
                if instance is not None and instance.selector != rule.selector:
                    scope |= policy_preview.scope_for_selector(instance.selector)
                found = policy_preview.preview(proposed=proposed, scope=scope)
                context.update(
                    preview=found,
                    selector=rule.selector,
                    sample=preview_rows(found),
                    rows=effective_rows(proposed.resolve((rule.selector.replace(":*", ":example"),))),
                )
        return TemplateResponse(request, "admin/byo_sessions/tagpolicy/dry_run.html", context)
