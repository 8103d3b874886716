"""Bulk ending in committed batches (services/bulk.py) on PostgreSQL, with threads: rows a
batch has not reached are never locked, and two runs over one selection end (and audit)
each session once. The command's filters, errors and reruns: tests/management/test_byo_invalidate.py."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from byo_sessions import sessions, signals
from byo_sessions.models import AuditEvent, Session
from byo_sessions.services.bulk import BulkRun, Selection
from byo_sessions.services.ending import IdIn, end_sessions
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


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.parametrize("listened", [False, True], ids=["counts only", "rows wanted"])
def test_a_row_a_request_changed_while_the_batch_waited_is_ended_in_its_new_version(user, listened):
    """The batch locks its rows, then updates them by the address the lock gave: when a row
    was changed meanwhile (here a new IP, a new row version elsewhere on the page), the lock
    waits for that transaction and yields the new version, which the batch then ends, once,
    with one audit row and (with a listener, when the ended rows come back) one signal."""
    ids = make_sessions(user, 3)
    signalled: list[str] = []
    if listened:
        signals.session_invalidated.connect(
            lambda sender, session_id, **kw: signalled.append(session_id), weak=False, dispatch_uid="test_bulk.moved"
        )
    try:
        changed, release = threading.Event(), threading.Event()

        def request_writing_its_row() -> None:
            try:
                with transaction.atomic():
                    Session.objects.filter(pk=ids[1]).update(last_ip_address="192.0.2.9")
                    changed.set()
                    release.wait(30)
            finally:
                connection.close()

        request = threading.Thread(target=request_writing_its_row, daemon=True)
        request.start()
        assert changed.wait(30)
        results: list[int] = []
        batch = threading.Thread(
            target=lambda: (
                results.append(end_sessions(Session.objects.filter(IdIn("pk", ids)), reason="bulk")),
                connection.close(),
            ),
            daemon=True,
        )
        batch.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock():  # the batch now waits on the changed row
            assert time.monotonic() < deadline and batch.is_alive()
            time.sleep(0.02)
        release.set()
        request.join(30)
        batch.join(30)
    finally:
        signals.session_invalidated.disconnect(dispatch_uid="test_bulk.moved")
    assert results == [3]
    assert sorted(signalled) == (ids if listened else [])
    assert AuditEvent.objects.filter(event_type="session_invalidated").count() == 3
    row = Session.objects.get(pk=ids[1])
    assert row.ended_at is not None and str(row.last_ip_address) == "192.0.2.9"
    audited = AuditEvent.objects.filter(event_type="session_invalidated", session_id=ids[1])
    assert [str(ip) for ip in audited.values_list("ip_address", flat=True)] == ["192.0.2.9"]


def test_batches_commit_without_waiting_for_the_disk_and_the_summary_waits(user):
    """Each batch's transaction turns synchronous_commit off for itself alone; the summary
    event commits as the connection does (waiting, and so flushing every batch before it)."""
    from django.test.utils import CaptureQueriesContext

    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    ids = make_sessions(user, 5)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")  # this connection only (the test server runs with it off)
    try:
        with CaptureQueriesContext(connection) as queries:
            assert BulkRun(selection=Selection(user_ids=(user.pk,)), batch_size=2, actor="t").run() == 4 + 1
        statements = [q["sql"] for q in queries.captured_queries]
        relaxed = [i for i, sql in enumerate(statements) if sql == "SET LOCAL synchronous_commit TO OFF"]
        summary = next(i for i, sql in enumerate(statements) if "bulk_invalidation" in sql)
        assert len(relaxed) == 3 and relaxed[-1] < summary
        assert setting() == "on"  # SET LOCAL ended with each batch's transaction
        # Inside a caller's transaction the commit is the caller's: nothing is relaxed.
        Session.objects.filter(pk__in=ids).update(ended_at=None)
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            assert end_sessions(Session.objects.filter(pk__in=ids), reason="bulk", wait_for_disk=False) == 5
            assert setting() == "on"
        assert not [q for q in queries.captured_queries if "synchronous_commit TO OFF" in q["sql"]]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
