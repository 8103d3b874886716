"""``manage.py byo_invalidate``: bulk ending by user, external user, tag, or all."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import is_ok, sessions
from byo_sessions.models import AuditEvent, Session
from tests.services.test_policies import create, validate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("byo_invalidate", *args, stdout=out)
    return out.getvalue()


def live_ids() -> set[str]:
    return set(Session.objects.filter(ended_at__isnull=True).values_list("id", flat=True))


def test_by_username_or_pk_and_tag(user, other_user):
    tagged = sessions.create(user_id=user.pk, tags=["org:a"]).data.session_id
    untagged = sessions.create(user_id=user.pk).data.session_id
    bobs = sessions.create(user_id=other_user.pk, tags=["org:a"]).data.session_id
    assert run("--user", "alice", "--tag", "org:a") == "Ended 1 session(s).\n"
    assert live_ids() == {untagged, bobs}
    assert Session.objects.get(pk=tagged).end_reason == "bulk"
    assert AuditEvent.objects.filter(session_id=tagged, actor="command:byo_invalidate").exists()
    assert run("--user", str(other_user.pk), "--reason", "admin") == "Ended 1 session(s).\n"
    assert live_ids() == {untagged}


def test_by_external_user_and_dry_run(db):
    kept = sessions.create(external_user_id="u-2").data.session_id
    sessions.create(external_user_id="u-1")
    assert run("--external-user", "u-1", "--dry-run") == "Would end 1 session(s).\n"
    assert len(live_ids()) == 2
    assert run("--external-user", "u-1") == "Ended 1 session(s).\n"
    assert live_ids() == {kept}


def test_all(user):
    sessions.create(user_id=user.pk)
    sessions.create(external_user_id="u-1")
    assert run("--all") == "Ended 2 session(s).\n" and live_ids() == set()


def test_refusals(user):
    sessions.create(user_id=user.pk, tags=["org:a"])
    with pytest.raises(CommandError, match="Say which sessions"):
        run()
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("--user", "nobody")
    with pytest.raises(CommandError, match="no ':'"):  # a malformed tag selects nothing, loudly
        run("--tag", "org-a")
    assert len(live_ids()) == 1


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
