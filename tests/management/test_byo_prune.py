"""``manage.py byo_prune``: deletes sessions ended or expired long ago (their audit trail
stays) and signing keys expired long ago."""
from __future__ import annotations

import io

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
