"""Bulk ending in committed batches (services/bulk.py) on PostgreSQL, with threads: rows a
batch has not reached are never locked, and two runs over one selection end (and audit)
each session once. The command's filters, errors and reruns: tests/management/test_byo_invalidate.py."""

from __future__ import annotations

import pytest
from django.db import connection

from byo_sessions import sessions, signals
from byo_sessions.models import AuditEvent, Session
from byo_sessions.services.bulk import BulkRun, Selection
from tests.concurrency import run_in_parallel

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def make_sessions(user, n: int) -> list[str]:
    return sorted(sessions.create(user_id=user.pk).data.session_id for _ in range(n))


def test_a_selected_row_the_run_has_not_reached_is_writable_at_once(user):
    ids = make_sessions(user, 6)
    batches = BulkRun(selection=Selection(user_ids=(user.pk,)), batch_size=2, actor="t").batches_ended()
    assert next(batches) == 2  # the first batch is committed; the run is between batches

    def write_own_row() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")  # waiting on the run's locks would fail here
        return Session.objects.filter(pk=ids[-1]).update(last_ip_address="192.0.2.9")

    assert run_in_parallel(1, write_own_row) == [1]
    assert list(batches) == [2, 2]
    assert not Session.objects.filter(ended_at__isnull=True).exists()


def test_two_runs_over_one_selection_end_audit_and_signal_each_session_once(user):
    ids = make_sessions(user, 12)
    signalled: list[str] = []

    def heard(sender, session_id, **kwargs):
        signalled.append(session_id)  # list.append is atomic across threads

    signals.session_invalidated.connect(heard, dispatch_uid="test_bulk.heard")
    try:
        ended = run_in_parallel(
            2, lambda: BulkRun(selection=Selection(user_ids=(user.pk,)), batch_size=2, actor="t").run()
        )
    finally:
        signals.session_invalidated.disconnect(dispatch_uid="test_bulk.heard")
    assert sum(ended) == 12, ended
    rows = AuditEvent.objects.filter(event_type="session_invalidated")
    assert sorted(rows.values_list("session_id", flat=True)) == ids
    assert sorted(signalled) == ids
    assert AuditEvent.objects.filter(event_type="bulk_invalidation").count() == 2
