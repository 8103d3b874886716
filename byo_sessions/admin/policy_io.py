"""The policy set as JSON in the admin: download it, or upload one to replace it.

The same all-or-nothing import as ``manage.py byo_policies import`` (services.policies),
so people who do not use a shell can keep the policy set in version control too. An
import replaces every tag rule and policy-wide setting, so it needs the add, change and
delete permissions on tag policies and the change permission on policy settings.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ..core.policy import PolicyValueError, policy_document
from ..core.text import json_depth
from ..services import policies, policy_preview
from .policy_tools import preview_rows

MAX_UPLOAD_BYTES = 1024 * 1024
MAX_DEPTH = 16  # a policy set nests four levels; anything far deeper is not one
TOO_DEEP = "That JSON nests too deeply to be a policy set."


def document_diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    """The change an import makes, as (kind, line) of a unified diff of the two documents
    written the way Export writes them (kind: "add", "remove", "context" or "hunk")."""
    old = json.dumps(before, indent=2, sort_keys=True).splitlines()
    new = json.dumps(after, indent=2, sort_keys=True).splitlines()
    kinds = {"+": "add", "-": "remove", "@": "hunk", " ": "context"}
    return [
        (kinds.get(line[:1], "context"), line)
        for line in difflib.unified_diff(old, new, "current", "imported", n=2, lineterm="")
    ]


class PolicyImportForm(forms.Form):
    document = forms.FileField(required=False, help_text="A JSON file made by Export (or by byo_policies export).")
    text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 16, "cols": 100}), label="or paste the JSON here"
    )
    dry_run = forms.BooleanField(required=False, initial=True, label="Only check it (change nothing)")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload, text = cleaned.get("document"), cleaned.get("text") or ""
        if upload is None and not text.strip():
            raise forms.ValidationError("Choose a file or paste a JSON document.")
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // 1024} KiB.")
            raw = upload.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"That is not JSON: {exc}.") from None
        except RecursionError:
            raise forms.ValidationError(TOO_DEEP) from None
        if json_depth(parsed) > MAX_DEPTH:
            raise forms.ValidationError(TOO_DEEP)
        cleaned["parsed"] = parsed
        return cleaned


class PolicyJsonMixin:
    """Adds ``export/`` and ``import/`` to the tag policy admin; the buttons come from
    ``admin/byo_sessions/tagpolicy/change_list.html``, which the admin finds by name."""

    def get_urls(self) -> list[URLPattern]:
        admin_site = self.admin_site  # type: ignore[attr-defined]
        own = [
            path("export/", admin_site.admin_view(self.export_view), name="byo_sessions_tagpolicy_export"),
            path("import/", admin_site.admin_view(self.import_view), name="byo_sessions_tagpolicy_import"),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        response = JsonResponse(policies.export_document(), json_dumps_params={"indent": 2, "sort_keys": True})
        response["Content-Disposition"] = 'attachment; filename="byo-session-policies.json"'
        return response

    def _may_import(self, request: HttpRequest) -> bool:
        user: Any = request.user
        return all(
            user.has_perm(f"byo_sessions.{perm}")
            for perm in ("add_tagpolicy", "change_tagpolicy", "delete_tagpolicy", "change_policysetting")
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_import(request):
            raise PermissionDenied
        errors: list[tuple[str, str]] = []
        dry: dict[str, Any] = {}
        posted = request.method == "POST"
        form = PolicyImportForm(request.POST if posted else None, request.FILES if posted else None)
        if posted and form.is_valid():
            dry_run = form.cleaned_data["dry_run"]
            try:
                policy_set = policies.import_document(
                    form.cleaned_data["parsed"], actor=f"admin:{request.user.get_username()}", dry_run=dry_run
                )
            except PolicyValueError as exc:
                errors = [(where or "(document)", message) for where, message in exc.errors]
            else:
                rules = len(policy_set.rules)
                if dry_run:
                    messages.info(request, f"The document is valid ({rules} tag rule(s)); nothing was changed.")
                    diff = document_diff(policies.export_document(), policy_document(policy_set))
                    found = policy_preview.preview(proposed=policy_set)
                    dry = {"diff": diff, "preview": found, "sample": preview_rows(found)}
                else:
                    messages.success(
                        request,
                        f"Imported {rules} tag rule(s); every process uses them within the policy refresh interval.",
                    )
                    return HttpResponseRedirect(reverse("admin:byo_sessions_tagpolicy_changelist"))
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Import the session policy set",
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "form": form,
            "import_errors": errors,
            **dry,
        }
        return TemplateResponse(request, "admin/byo_sessions/tagpolicy/import.html", context)
