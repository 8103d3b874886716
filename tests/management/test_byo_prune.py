"""``manage.py byo_prune``: deletes sessions ended or expired long ago (their audit trail
stays) and signing keys expired long ago."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from byo_sessions import sessions
from byo_sessions.models import AuditEvent, Session
from tests.services.test_policies import create

pytestmark = pytest.mark.django_db


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


def test_prune_deletes_long_expired_signing_keys(clock):
    import io

    from django.core.management import call_command

    from byo_sessions import sessions as api
    from byo_sessions.models import SigningKey

    api.create_stateless_token(user_id=None, external_user_id="u1")  # creates the first key
    first = SigningKey.objects.get()
    SigningKey.objects.filter(pk=first.pk).update(expires_at=clock.now())
    clock.advance(31 * 86400)
    out = io.StringIO()
    call_command("byo_prune", "--days", "30", stdout=out)
    assert "1 expired signing key(s)" in out.getvalue()
    assert not SigningKey.objects.filter(pk=first.pk).exists()


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("byo_prune", "--batch-size", "2", *args, stdout=out)
    return out.getvalue()


def test_batches_delete_children_first_and_a_dry_run_only_counts(user, clock):
    from byo_sessions.models import RetiredToken, SessionTag, UsedProof

    dead = [create(user, ["org:a", "role:x"]).data for _ in range(5)]
    for created in dead:
        assert sessions.validate_and_refresh(session_token=created.session_token, ip_address="198.51.100.7")
        sessions.invalidate_by_id(session_id=created.session_id)
    kept = create(user, ["org:a"]).data
    UsedProof.objects.create(jti_hash="a" * 64, expires_at=clock.now())
    clock.advance(31 * 86400)
    kept_row = Session.objects.get(pk=kept.session_id)
    Session.objects.filter(pk=kept.session_id).update(expires_at=clock.now() + timedelta(days=1))
    RetiredToken.objects.create(token_hash="b" * 64, session=kept_row, generation=1, retired_at=clock.now())
    tag_rows, retired = SessionTag.objects.count(), RetiredToken.objects.count()
    assert prune("--dry-run") == (
        "Would delete 5 dead session(s), 0 retired token(s), 1 spent proof id(s), 0 expired signing key(s).\n"
    )
    assert Session.objects.count() == 6 and SessionTag.objects.count() == tag_rows
    out = prune("--audit-days", "365")
    assert out.startswith("Deleted ") and "1 spent proof id(s)" in out and "0 audit event(s)" in out
    assert set(Session.objects.values_list("id", flat=True)) == {kept.session_id}
    assert set(SessionTag.objects.values_list("session_id", flat=True)) == {kept.session_id}
    assert list(RetiredToken.objects.values_list("session_id", flat=True)) == [kept.session_id]
    assert not UsedProof.objects.exists()
    deleted_rows = int(out.split()[1])
    assert deleted_rows == 5 + (tag_rows - 1) + (retired - 1)  # sessions, their tag rows and retired tokens
    assert prune() == (
        "Deleted 0 row(s) of dead sessions (with their tags and retired tokens), 0 retired token(s), "
        "0 spent proof id(s), 0 expired signing key(s).\n"
    )  # a rerun finds nothing left


def test_retention_per_kind_from_options_and_settings(user, clock, settings):
    from byo_sessions.models import RetiredToken

    created = create(user).data
    row = Session.objects.get(pk=created.session_id)
    RetiredToken.objects.create(token_hash="c" * 64, session=row, generation=1, retired_at=clock.now())
    clock.advance(3 * 86400)
    assert "0 retired token(s)" in prune()
    assert "1 retired token(s)" in prune("--retired-token-days", "2")
    for _ in range(3):
        sessions.invalidate_by_id(session_id=create(user).data.session_id)
    clock.advance(86400 + 60)
    assert AuditEvent.objects.count() > 3
    assert (
        "0 audit event(s)" not in prune("--audit-days", "2")
        and AuditEvent.objects.filter(created_at__lt=clock.now() - timedelta(days=2)).count() == 0
    )
    settings.BYO_SESSIONS = {"PRUNE_SESSIONS_AFTER_DAYS": 1, "PRUNE_AUDIT_AFTER_DAYS": 1}
    assert prune().startswith("Deleted 3 row(s) of dead sessions")
    assert not Session.objects.filter(ended_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(created_at__lt=clock.now() - timedelta(days=1)).exists()


def test_refusals_name_the_value(db):
    from django.core.management import CommandError

    for args, message in (
        (("--days", "-1"), "--days -1"),
        (("--audit-days", "-5"), "--audit-days -5"),
        (("--batch-size", "0"), "--batch-size 0"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("byo_prune", *args, stdout=io.StringIO())


def test_a_batch_spans_live_sessions_and_leaves_them_whole(user, clock):
    """Each batch's id range (the range PostgreSQL scans) holds live sessions between the
    dead ones: only the batch's own rows and children go."""
    from byo_sessions.models import RetiredToken, SessionTag

    for n in range(10):
        row = Session.objects.get(pk=create(user, ["org:a", "role:x"]).data.session_id)
        RetiredToken.objects.create(token_hash=f"{n:064x}", session=row, generation=0, retired_at=clock.now())
    in_db_order = list(Session.objects.order_by("pk").values_list("pk", flat=True))
    dead, live = in_db_order[::2], in_db_order[1::2]
    for session_id in dead:
        sessions.invalidate_by_id(session_id=session_id)
    clock.advance(31 * 86400)
    Session.objects.filter(pk__in=live).update(expires_at=clock.now() + timedelta(days=1))

    def children(ids: list[str]) -> dict[str, tuple[int, int]]:
        return {
            sid: (
                SessionTag.objects.filter(session_id=sid).count(),
                RetiredToken.objects.filter(session_id=sid).count(),
            )
            for sid in ids
        }

    live_children, dead_children = children(live), children(dead)
    assert all(tags == 2 and retired == 1 for tags, retired in [*live_children.values(), *dead_children.values()])
    assert prune("--retired-token-days", "60").startswith(
        f"Deleted {5 + sum(t + r for t, r in dead_children.values())} row(s)"
    )
    assert sorted(Session.objects.values_list("pk", flat=True)) == sorted(live)
    assert children(live) == live_children
    assert not SessionTag.objects.filter(session_id__in=dead).exists()
    assert not RetiredToken.objects.filter(session_id__in=dead).exists()
