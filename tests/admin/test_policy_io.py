"""Policy JSON export/import in the admin (byo_sessions/admin/policy_io.py)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from byo_sessions.models import AuditEvent, PolicySetting, TagPolicy
from byo_sessions.services import policies

pytestmark = pytest.mark.django_db

EXPORT = "/admin/byo_sessions/tagpolicy/export/"
IMPORT = "/admin/byo_sessions/tagpolicy/import/"
DOC = {
    "tag_priority": ["role", "org"],
    "on_create_only_tags": ["org"],
    "defaults": {"absolute_lifetime_secs": 86400},
    "tags": [
        {
            "tag": "org:acme",
            "label": "Acme Corp",
            "priority": 0,
            "absolute_lifetime_secs": 3600,
            "ip_allowlist": ["10.0.0.0/8"],
        },
        {"tag": "role:*", "inactivity_timeout_secs": 900},
    ],
}


def test_list_page_links_both(admin_client):
    page = admin_client.get("/admin/byo_sessions/tagpolicy/").content.decode()
    assert EXPORT in page and IMPORT in page


def test_export_downloads_the_live_policy_set(admin_client):
    policies.import_document(DOC)
    response = admin_client.get(EXPORT)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert json.loads(response.content) == policies.export_document()
    assert json.loads(response.content)["tags"][0]["label"] == "Acme Corp"


def test_upload_replaces_the_policy_set_and_is_audited(admin_client):
    TagPolicy.objects.create(selector="org:old", absolute_lifetime_secs=60)
    upload = SimpleUploadedFile("p.json", json.dumps(DOC).encode(), content_type="application/json")
    response = admin_client.post(IMPORT, {"document": upload})  # dry_run unchecked: import
    assert response.status_code == 302 and response["Location"].endswith("/admin/byo_sessions/tagpolicy/")
    assert sorted(TagPolicy.objects.values_list("selector", flat=True)) == ["org:acme", "role:*"]
    assert policies.current().resolve(("org:acme",)).absolute_lifetime_secs == 3600
    event = AuditEvent.objects.get(event_type="policy_changed", reason="import")
    assert event.actor == "admin:admin" and event.details["rules"] == 2
    exported = policies.export_document()
    assert exported["tag_priority"] == ["role", "org"] and exported["tags"][0]["label"] == "Acme Corp"


def test_pasted_text_with_dry_run_changes_nothing(admin_client):
    response = admin_client.post(IMPORT, {"text": json.dumps(DOC), "dry_run": "on"})
    assert response.status_code == 200
    assert "The document is valid (2 tag rule(s)); nothing was changed." in response.content.decode()
    assert not TagPolicy.objects.exists() and not PolicySetting.objects.exists()


def test_every_error_is_listed_with_its_key_and_nothing_changes(admin_client):
    TagPolicy.objects.create(selector="org:keep", absolute_lifetime_secs=60)
    bad = {
        "tags": [{"tag": "org acme"}, {"tag": "org:x", "ip_allowlist": ["10.0.0.1/8"]}],
        "defaults": {"absolute_lifetime_secs": -5},
    }
    page = admin_client.post(IMPORT, {"text": json.dumps(bad)}).content.decode()
    assert "Nothing was changed: 3 errors." in page
    for key in ("tags[0]", "tags[1].ip_allowlist", "defaults.absolute_lifetime_secs"):
        assert f"<code>{key}" in page, key
    assert list(TagPolicy.objects.values_list("selector", flat=True)) == ["org:keep"]
    assert not AuditEvent.objects.filter(event_type="policy_changed").exists()


@pytest.mark.parametrize(
    "data,message",
    [
        ({}, "Choose a file or paste a JSON document."),
        ({"text": "{not json"}, "That is not JSON"),
        ({"text": "null"}, "Nothing was changed: 1 error."),
        ({"text": "[" * 5000 + "]" * 5000}, "That JSON nests too deeply to be a policy set."),
        (
            {"document": SimpleUploadedFile("p.json", b"\xff\xfe", content_type="application/json")},
            "The file is not UTF-8 text.",
        ),
    ],
)
def test_unreadable_input_is_explained(admin_client, data, message):
    response = admin_client.post(IMPORT, data)
    assert response.status_code == 200 and message in response.content.decode()


def test_import_needs_every_policy_permission(client, django_user_model, settings):
    settings.BYO_SESSIONS = {}
    editor = django_user_model.objects.create_user(username="ed", password="pw-ed-12345", is_staff=True)
    editor.user_permissions.add(*Permission.objects.filter(codename__in=["view_tagpolicy", "change_tagpolicy"]))
    assert client.post("/admin/login/", {"username": "ed", "password": "pw-ed-12345"}).status_code == 302
    assert client.get(EXPORT).status_code == 200
    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, {"text": json.dumps(DOC)}).status_code == 403
    assert not TagPolicy.objects.exists()


@pytest.mark.parametrize("label", ["x\ud800", "x\x00y"])
def test_a_label_the_database_cannot_store_is_an_error_not_a_500(admin_client, label):
    doc = {"tags": [{"tag": "org:a", "label": label}]}
    page = admin_client.post(IMPORT, {"text": json.dumps(doc)}).content.decode()
    assert "Nothing was changed: 1 error." in page and "<code>tags[0].label" in page
    assert not TagPolicy.objects.exists()
