"""The signing keys admin (admin/__init__.py): read-only, and no private key on any page."""

from __future__ import annotations

import pytest

from byo_sessions.models import SigningKey
from byo_sessions.services import signing_keys

pytestmark = pytest.mark.django_db


def test_admin_shows_no_private_key(client, django_user_model):
    django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.com")
    assert client.post("/admin/login/", {"username": "root", "password": "pw-root-123"}).status_code == 302
    admin_client = client
    signing_keys.signing_key()
    row = SigningKey.objects.get()
    listing = admin_client.get("/admin/byo_sessions/signingkey/")
    assert listing.status_code == 200 and row.kid in listing.content.decode()
    page = admin_client.get(f"/admin/byo_sessions/signingkey/{row.pk}/change/")
    assert page.status_code == 200
    assert row.private_key_encrypted[3:40] not in page.content.decode() and "active" in page.content.decode()
    assert admin_client.get("/admin/byo_sessions/signingkey/add/").status_code == 403


def test_no_admin_page_changes_a_signing_key_even_for_a_superuser(admin_client):
    signing_keys.signing_key()
    row = SigningKey.objects.get()
    base = "/admin/byo_sessions/signingkey/"
    assert "delete_selected" not in admin_client.get(base).content.decode()
    assert admin_client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{base}{row.pk}/change/", {"expires_at": "2000-01-01 00:00:00"}).status_code == 403
    assert SigningKey.objects.get().expires_at == row.expires_at
