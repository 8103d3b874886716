"""Keys in the admin: session-server integration keys (made, labelled, limited to commands,
given an expiry and revoked here; the key is shown once, only its digest is kept) and the
signing keys of stateless tokens (rotated here, with the first rotation explained).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from ..conf import byo_settings
from ..core import clock
from ..models import IntegrationKey, SigningKey
from ..server import integration_keys
from ..server.commands import COMMANDS
from ..services import signing_keys
from ..services.signing_keys import key_state
from ..values import Err
from .actions import actor
from .lookups import SecretSafeAdmin
from .policy_forms import DurationField, duration_text


class IntegrationKeyForm(forms.ModelForm):
    allowed_commands = forms.MultipleChoiceField(
        choices=[(name, name) for name in sorted(COMMANDS)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick the commands this key may run; none ticked means every command.",
    )
    expires_at = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, help_text="Refused from this moment; empty: never."
    )

    class Meta:
        model = IntegrationKey
        fields = ("label", "allowed_commands", "expires_at")

    def clean_expires_at(self) -> Any:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= clock.now() and not self.instance.pk:
            raise forms.ValidationError("Choose a moment in the future.")
        return value


@admin.register(IntegrationKey)
class IntegrationKeyAdmin(SecretSafeAdmin):
    form = IntegrationKeyForm
    list_display = ("label", "hint_display", "commands", "state", "created_at", "created_by", "expires_at")
    list_filter = ("revoked_at",)
    search_fields = ("label", "hint")
    readonly_fields = ("hint_display", "state", "created_at", "created_by", "revoked_at", "revoked_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("label", "allowed_commands", "expires_at")
        return (
            "label",
            "hint_display",
            "state",
            "allowed_commands",
            "expires_at",
            "created_at",
            "created_by",
            "revoked_at",
            "revoked_by",
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, so the audit trail can name them

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="byo_sessions_integrationkey_revoke",
            )
        ]
        return own + super().get_urls()

    def save_model(self, request: HttpRequest, obj: IntegrationKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, row = integration_keys.create(
            label=obj.label,
            allowed_commands=list(obj.allowed_commands or []),
            expires_at=obj.expires_at,
            actor=actor(request),
        )
        obj.pk, obj.digest, obj.hint, obj.created_at = row.pk, row.digest, row.hint, row.created_at
        obj._state.adding = False
        request._byo_new_key = key  # type: ignore[attr-defined]  # shown once by response_add

    def response_add(self, request: HttpRequest, obj: IntegrationKey, post_url_continue: str | None = None) -> Any:
        key = getattr(request, "_byo_new_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Copy the new key now",
            "key": key,
            "row": obj,
        }
        return TemplateResponse(request, "admin/byo_sessions/integrationkey/created.html", context)

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        row = IntegrationKey.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if row is None:
            raise Http404("No such key.")
        if not self.has_change_permission(request, row):
            raise PermissionDenied
        back = reverse("admin:byo_sessions_integrationkey_change", args=[row.pk])
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Revoke this key",
                "row": row,
                "back": back,
            }
            return TemplateResponse(request, "admin/byo_sessions/integrationkey/revoke.html", context)
        if integration_keys.revoke(key_id=row.pk, actor=actor(request)):
            self.message_user(request, f"Revoked {row}: calls with it are refused from now on.", messages.SUCCESS)
        else:
            self.message_user(request, f"{row} was already revoked.", messages.WARNING)
        return HttpResponseRedirect(back)

    @admin.display(description="key")
    def hint_display(self, obj: IntegrationKey) -> str:
        return format_html("<code>{}…</code>", obj.hint) if obj.hint else "-"

    @admin.display(description="commands")
    def commands(self, obj: IntegrationKey) -> str:
        return ", ".join(obj.allowed_commands) if obj.allowed_commands else "every command"

    @admin.display(description="state")
    def state(self, obj: IntegrationKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.expires_at is not None and obj.expires_at <= clock.now():
            return "expired"
        return "active"


class RotateForm(forms.Form):
    becomes_default_in = DurationField(
        initial=3600,
        label="The new key signs tokens in",
        help_text="Time for every cache of the JWKS to pick the new key up.",
    )
    old_keys_end_in = DurationField(
        initial=2 * 3600,
        label="The keys in use now stop verifying in",
        help_text="At least the time above plus the longest token lifetime.",
    )


@admin.register(SigningKey)
class SigningKeyAdmin(SecretSafeAdmin):
    """Keys are made and retired by rotation (here, ``sessions.rotate_stateless_token_key``
    or ``manage.py byo_rotate_keys``), never edited. The (encrypted) private key is never shown."""

    list_display = ("kid", "algorithm", "state", "created_at", "becomes_default_at", "expires_at")
    fields = ("kid", "algorithm", "state", "created_at", "becomes_default_at", "expires_at", "public_jwk")
    readonly_fields = fields
    search_fields = ("kid",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def may_rotate(self, request: HttpRequest) -> bool:
        """Rotating needs the change permission on signing keys (Django's own codename)."""
        user: Any = request.user
        return bool(user.has_perm("byo_sessions.change_signingkey"))

    def get_urls(self) -> list[URLPattern]:
        own = [path("rotate/", self.admin_site.admin_view(self.rotate_view), name="byo_sessions_signingkey_rotate")]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(
            request, {"title": "Signing keys", "byo_may_rotate": self.may_rotate(request), **(extra_context or {})}
        )

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_rotate(request):
            raise PermissionDenied
        first = not SigningKey.objects.exists()
        longest = int(byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS)
        form = RotateForm(request.POST or None, initial={"old_keys_end_in": 3600 + longest})
        if request.method == "POST" and form.is_valid():
            result = signing_keys.rotate_stateless_token_key(
                secs_before_new_key_becomes_default=form.cleaned_data["becomes_default_in"],
                secs_before_existing_keys_are_deactivated=form.cleaned_data["old_keys_end_in"],
                actor=actor(request),
            )
            if isinstance(result, Err):
                form.add_error(None, result.error.message)
            else:
                made = "Created the key in use and its successor" if first else "Created the next key"
                self.message_user(
                    request,
                    f"{made}; the new key signs tokens from "
                    f"{result.data.new_key_becomes_default_at:%Y-%m-%d %H:%M} UTC.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:byo_sessions_signingkey_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Rotate the signing keys",
            "form": form,
            "first": first,
            "longest": duration_text(longest),
        }
        return TemplateResponse(request, "admin/byo_sessions/signingkey/rotate.html", context)

    @admin.display(description="state")
    def state(self, obj: SigningKey) -> str:
        return key_state(obj)
