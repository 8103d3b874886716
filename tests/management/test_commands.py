"""Management commands (management/commands/): ``byo_invalidate`` selects and ends
sessions in bulk, ``byo_prune`` deletes long-dead rows and keeps their audit trail. The
other commands are tested beside what they drive: ``byo_policies`` in
tests/services/test_policies.py, ``byo_rotate_keys`` in tests/services/test_signing_keys.py,
``byo_django_sessions`` in tests/test_django_sessions.py, ``byo_integration_key`` in
tests/server/test_view.py."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import is_ok, sessions
from byo_sessions.models import AuditEvent, Session
from tests.services.test_policies import create, validate

pytestmark = pytest.mark.django_db


def test_bulk_invalidate_by_tag_and_user(user, other_user):
    acme = [create(user, ["org:acme"]).data.session_token for _ in range(2)]
    other = create(other_user, ["org:acme"]).data.session_token
    plain = create(user).data.session_token
    out = io.StringIO()
    call_command("byo_invalidate", "--tag", "org:acme", "--user", "alice", stdout=out)
    assert "Ended 2" in out.getvalue()
    assert all(validate(t).error.details["reason"] == "bulk" for t in acme)
    assert is_ok(validate(other)) and is_ok(validate(plain))
    call_command("byo_invalidate", "--all", "--reason", "admin", stdout=out)
    assert validate(other).error.details["reason"] == "admin"
    with pytest.raises(CommandError, match="Say which sessions"):
        call_command("byo_invalidate")


def test_prune_deletes_only_long_dead_sessions(user, clock):
    dead = create(user).data
    sessions.invalidate_by_id(session_id=dead.session_id)
    recent_dead = create(user).data
    alive = create(user).data
    clock.advance(31 * 86400)
    sessions.invalidate_by_id(session_id=recent_dead.session_id)
    out = io.StringIO()
    call_command("byo_prune", "--days", "30", stdout=out)
    remaining = set(Session.objects.values_list("id", flat=True))
    assert dead.session_id not in remaining
    assert recent_dead.session_id in remaining
    # "alive" expired by its 14-day lifetime 17 days ago: kept until 30 days have passed
    assert alive.session_id in remaining
    assert AuditEvent.objects.filter(session_id=dead.session_id).exists()  # the trail outlives the row
