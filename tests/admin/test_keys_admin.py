"""Keys in the admin (admin/keys.py): integration keys made (shown once), limited, revoked;
signing keys rotated, the first rotation saying why it makes two keys."""

from __future__ import annotations

import re

import pytest

from byo_sessions.models import AuditEvent, IntegrationKey, SigningKey
from byo_sessions.server import integration_keys

pytestmark = pytest.mark.django_db
KEYS = "/admin/byo_sessions/integrationkey/"


def test_create_shows_the_key_once_and_stores_its_digest(admin_client):
    response = admin_client.post(
        f"{KEYS}add/",
        {"label": "billing backend", "allowed_commands": ["Ping"], "expires_at_0": "", "expires_at_1": ""},
    )
    page = response.content.decode()
    key = re.search(r'value="(byo_ik_[^"]+)" id="byo-new-key"', page).group(1)
    row = IntegrationKey.objects.get()
    assert row.digest == integration_keys.key_digest(key) and row.allowed_commands == ["Ping"]
    assert row.created_by == "admin:admin" and key[:13] == row.hint
    later = admin_client.get(f"{KEYS}{row.pk}/change/").content.decode() + admin_client.get(KEYS).content.decode()
    assert key not in later and row.hint in later and "Ping" in later
    assert AuditEvent.objects.filter(event_type="integration_key_created", actor="admin:admin").exists()


def test_revoke_from_the_admin(admin_client):
    _key, row = integration_keys.create(label="old", allowed_commands=[], expires_at=None, actor="x")
    assert "Revoke this key" in admin_client.get(f"{KEYS}{row.pk}/change/").content.decode()
    assert admin_client.post(f"{KEYS}{row.pk}/revoke/").status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None and row.revoked_by == "admin:admin"
    assert "revoked" in admin_client.get(KEYS).content.decode()


def test_viewers_cannot_revoke_or_create(staff_client):
    _key, row = integration_keys.create(label="old", allowed_commands=[], expires_at=None, actor="x")
    client = staff_client("view_integrationkey")
    assert client.post(f"{KEYS}{row.pk}/revoke/").status_code == 403
    assert client.post(f"{KEYS}add/", {"label": "x"}).status_code == 403
    row.refresh_from_db()
    assert row.revoked_at is None


def test_first_rotation_explains_its_two_keys(admin_client):
    page = admin_client.get("/admin/byo_sessions/signingkey/rotate/").content.decode()
    assert "This is the first rotation: it creates two keys." in page
    response = admin_client.post(
        "/admin/byo_sessions/signingkey/rotate/", {"becomes_default_in": "1 hour", "old_keys_end_in": "3 hours"}
    )
    assert response.status_code == 302 and SigningKey.objects.count() == 2
    page = admin_client.get("/admin/byo_sessions/signingkey/rotate/").content.decode()
    assert "first rotation" not in page
    too_early = admin_client.post(
        "/admin/byo_sessions/signingkey/rotate/", {"becomes_default_in": "1 hour", "old_keys_end_in": "1 hour"}
    ).content.decode()
    assert "must be at least" in too_early and SigningKey.objects.count() == 2


def test_rotating_needs_the_change_permission(staff_client):
    client = staff_client("view_signingkey")
    assert "Rotate the keys" not in client.get("/admin/byo_sessions/signingkey/").content.decode()
    assert (
        client.post(
            "/admin/byo_sessions/signingkey/rotate/", {"becomes_default_in": "1 hour", "old_keys_end_in": "3 hours"}
        ).status_code
        == 403
    )
    assert not SigningKey.objects.exists()
