"""Integration keys made in the admin (IntegrationKey rows): they open the server beside the
settings' digests, can be limited to commands (CommandNotAllowed, 403), expire and be revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from byo_sessions.models import AuditEvent, IntegrationKey
from byo_sessions.server import integration_keys

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.server.urls")]


def test_a_stored_key_works_until_revoked(post, clock):
    key, row = integration_keys.create(label="billing", allowed_commands=[], expires_at=None, actor="admin:root")
    assert (
        key.startswith("byo_ik_")
        and row.digest == integration_keys.key_digest(key)
        and key not in str(IntegrationKey.objects.values().get())
    )
    assert post({"command": "Ping"}, key=key)[0] == 200
    assert integration_keys.revoke(key_id=row.pk, actor="admin:root") is True
    status, body = post({"command": "Ping"}, key=key)
    assert (status, body["type"]) == (401, "IntegrationKeyNotFound")
    assert integration_keys.revoke(key_id=row.pk, actor="admin:root") is False
    assert [e.event_type for e in AuditEvent.objects.order_by("id")] == [
        "integration_key_created",
        "integration_key_revoked",
    ]


def test_a_stored_key_expires(post, clock):
    key, _row = integration_keys.create(
        label="temp", allowed_commands=[], actor="admin:root", expires_at=clock.now() + timedelta(hours=1)
    )
    assert post({"command": "Ping"}, key=key)[0] == 200
    clock.advance(3601)
    assert post({"command": "Ping"}, key=key)[1]["type"] == "IntegrationKeyNotFound"


def test_a_key_limited_to_commands(post):
    key, _row = integration_keys.create(
        label="reader", allowed_commands=["Ping", "ValidateSession"], expires_at=None, actor="admin:root"
    )
    assert post({"command": "Ping"}, key=key)[0] == 200
    status, body = post({"command": "CreateSession", "data": {"userId": "u1"}}, key=key)
    assert (status, body) == (403, {"type": "CommandNotAllowed", "details": {"command_name": "CreateSession"}})
    assert post({"command": "CreateSession", "data": {"userId": "u1"}})[0] == 200  # the settings key: every command
