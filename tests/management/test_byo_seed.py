"""``manage.py byo_seed``: rows shaped as the services write them, tokens that validate."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import is_ok, sessions
from byo_sessions.core.dpop import jwk_thumbprint
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import AuditEvent, Device, RetiredToken, Session, SessionTag
from byo_sessions.services import seeding

pytestmark = pytest.mark.django_db


def test_seeded_sessions_validate_with_their_derived_tokens_and_carry_tags_and_audit(db):
    out = io.StringIO()
    call_command(
        "byo_seed",
        "--users",
        "5",
        "--sessions",
        "40",
        "--orgs",
        "3",
        "--max-age-days",
        "10",
        "--chunk",
        "15",
        "--seed",
        "7",
        "--device-percent",
        "40",
        stdout=out,
    )
    plan = seeding.Plan(users=5, sessions=40, orgs=3, max_age_days=10, seed=7, device_percent=40)
    with_device = [u for u in range(5) if seeding.has_device(plan, u)]
    assert 0 < len(with_device) < 5
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith(f"Seeded 5 users, {len(with_device)} devices, 40 sessions, 120 tags, ")
    )
    assert Session.objects.count() == 40 and SessionTag.objects.count() == 120
    live = Session.objects.filter(ended_at__isnull=True)
    assert 0 < live.count() < 40  # about 30% ended
    # Each seeded session found by its derived token (its id holds its creation time).
    by_index = {index: Session.objects.get(token_hash=hash_token(seeding.seed_token(7, index))) for index in range(40)}
    for index, row in by_index.items():
        assert row.id == seeding.seed_session_id(7, index, row.created_at)
        assert f"org:{seeding.org_of(plan, index)}" in row.tags
        result = sessions.validate(
            session_token=seeding.seed_token(7, index), ip_address=row.last_ip_address, user_agent=row.last_user_agent
        )
        bound = seeding.has_device(plan, index % 5)
        assert row.device_thumbprint == (jwk_thumbprint(seeding.device_jwk(7, index % 5)) if bound else "")
        assert row.device_id == (seeding.seed_device_id(7, index % 5) if bound else None)
        assert is_ok(result) == (row.ended_at is None), (index, result)  # no policy asks for a proof
        assert AuditEvent.objects.filter(session_id=row.id, event_type="session_created").exists()
    assert RetiredToken.objects.count() == AuditEvent.objects.filter(event_type="session_rotated").count() > 0
    assert Device.objects.count() == len(with_device)
    assert set(Device.objects.values_list("thumbprint", flat=True)) == {
        jwk_thumbprint(seeding.device_jwk(7, u)) for u in with_device
    }
    tagged = set(SessionTag.objects.filter(tag="org:1").values_list("session_id", flat=True))
    assert tagged == {by_index[i].id for i in seeding.sessions_of_org(plan, 1)}
    # Written oldest first, as a site accumulates them (6 hours apart here, an hour of
    # jitter), with ids that sort as they were created, as the services make them.
    by_creation = list(Session.objects.order_by("created_at").values_list("id", flat=True))
    assert by_creation == [by_index[i].id for i in range(40)]
    assert list(Session.objects.order_by("id").values_list("id", flat=True)) == by_creation


def test_refusals(db):
    with pytest.raises(CommandError, match="--sessions 0"):
        call_command("byo_seed", "--sessions", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--ended-percent 101"):
        call_command("byo_seed", "--ended-percent", "101", stdout=io.StringIO())
