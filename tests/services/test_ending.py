"""Ending sessions (services/ending.py): set-based (one UPDATE and one audit INSERT for any
number of sessions, one statement on PostgreSQL, where an ending is a HOT update), an ended session is never ended or audited twice, free text is cut to
its column, and listeners hear of it only once the transaction commits."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from byo_sessions import sessions, signals
from byo_sessions.models import AuditEvent, Session
from byo_sessions.services.ending import end_session, end_sessions
from tests.services.test_sessions import make

pytestmark = pytest.mark.django_db


def _statements(ctx: CaptureQueriesContext, verb: str, table: str) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(verb) and table in q["sql"]]


def test_a_long_free_text_reason_is_cut_to_the_column_not_refused(user):
    created = make(user)
    reason = "x" * 300
    assert sessions.invalidate_by_id(session_id=created.session_id, reason=reason, actor="a" * 500).data == 1
    row = Session.objects.get(pk=created.session_id)
    assert row.end_reason == "x" * 40 and row.ended_by == "a" * 200
    result = sessions.validate(session_token=created.session_token)
    assert result.error.details["reason"] == "x" * 40


def test_ending_many_sessions_is_one_update_and_one_audit_insert(user, on_postgres):
    created = [make(user) for _ in range(6)]
    with CaptureQueriesContext(connection) as ctx:
        ended = end_sessions(Session.objects.filter(user=user), reason="bulk", actor="ops")
    assert ended == 6
    if on_postgres:  # one statement: the audit rows come from the UPDATE's RETURNING
        (both,) = _statements(ctx, "WITH", "byo_sessions_session")
        assert 'UPDATE "byo_sessions_session"' in both and 'INSERT INTO "byo_sessions_auditevent"' in both
        assert not _statements(ctx, "UPDATE", "") and not _statements(ctx, "INSERT", "")
    else:
        assert len(_statements(ctx, "UPDATE", "byo_sessions_session")) == 1
        assert len(_statements(ctx, "INSERT", "byo_sessions_auditevent")) == 1
    rows = AuditEvent.objects.filter(event_type="session_invalidated")
    assert sorted(rows.values_list("session_id", flat=True)) == sorted(c.session_id for c in created)
    assert set(rows.values_list("reason", "actor", "user_ref")) == {("bulk", "ops", str(user.pk))}
    assert not Session.objects.filter(ended_at__isnull=True).exists()


def test_an_ended_session_is_neither_counted_nor_audited_again(user, clock):
    first, second, third = make(user), make(user), make(user)
    assert end_sessions(Session.objects.filter(pk__in=[first.session_id, second.session_id]), reason="admin") == 2
    ended_at = Session.objects.get(pk=first.session_id).ended_at
    clock.advance(60)
    assert end_sessions(Session.objects.filter(user=user), reason="bulk") == 1  # only the third was still live
    assert end_sessions(Session.objects.filter(user=user), reason="bulk") == 0
    first_row = Session.objects.get(pk=first.session_id)
    assert (first_row.end_reason, first_row.ended_at) == ("admin", ended_at)  # the first ending stands
    audited = AuditEvent.objects.filter(event_type="session_invalidated")
    assert sorted(audited.values_list("session_id", "reason")) == sorted(
        [(first.session_id, "admin"), (second.session_id, "admin"), (third.session_id, "bulk")]
    )


def test_an_ended_session_keeps_no_data(user):
    created = make(user)
    Session.objects.filter(pk=created.session_id).update(data="cart=3")
    end_sessions(Session.objects.filter(pk=created.session_id), reason="logout")
    assert Session.objects.get(pk=created.session_id).data == ""


def test_end_session_updates_the_instance_and_says_whether_it_ended_it(user, clock):
    session = Session.objects.get(pk=make(user).session_id)
    assert end_session(session, reason="y" * 100) is True
    assert session.ended_at == clock.now() and session.end_reason == "y" * 40
    clock.advance(5)
    assert end_session(session, reason="again") is False
    assert Session.objects.get(pk=session.pk).end_reason == "y" * 40


def test_listeners_hear_of_each_ended_session_only_after_commit(user, django_capture_on_commit_callbacks):
    heard: list[dict] = []

    def listen(**kwargs):
        heard.append(kwargs)

    signals.session_invalidated.connect(listen, weak=False, dispatch_uid="test_ending.listen")
    try:
        a, b = make(user), make(user)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            end_sessions(Session.objects.filter(user=user), reason="bulk", actor="ops")
        assert heard == []  # nothing is announced before the transaction commits
        for callback in callbacks:
            callback()
    finally:
        signals.session_invalidated.disconnect(dispatch_uid="test_ending.listen")
    assert sorted(h["session_id"] for h in heard) == sorted([a.session_id, b.session_id])
    assert {(h["user_ref"], h["reason"], h["actor"]) for h in heard} == {(str(user.pk), "bulk", "ops")}


def test_each_ended_session_has_its_log_line_and_unread_rows_come_back_as_a_count(
    user, caplog, on_postgres, django_capture_on_commit_callbacks
):
    """When the audit logger takes INFO the ended rows come back for the log lines; when
    nothing reads them (no listener, no log, no revocation cache) PostgreSQL returns counts."""
    a, b, c = make(user), make(user), make(user)
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    with django_capture_on_commit_callbacks(execute=True):
        assert end_sessions(Session.objects.filter(pk__in=[a.session_id, b.session_id]), reason="bulk") == 2
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "byo_sessions.audit"]
    assert sorted((line["event"], line["session_id"]) for line in lines) == sorted(
        ("session_invalidated", s.session_id) for s in (a, b)
    )
    caplog.set_level(logging.WARNING, logger="byo_sessions.audit")
    with CaptureQueriesContext(connection) as ctx:
        assert end_sessions(Session.objects.filter(user=user), reason="bulk") == 1
    if on_postgres:
        (statement,) = _statements(ctx, "WITH", "byo_sessions_session")
        assert statement.endswith(", (SELECT count(*) FROM audited)")  # ids locked but not ended, and a count
    assert AuditEvent.objects.filter(event_type="session_invalidated", session_id=c.session_id).count() == 1


ENDING_WRITES = {"ended_at", "end_reason", "ended_by", "data"}


def test_no_index_of_the_session_table_names_a_column_an_ending_writes(on_postgres):
    """What keeps an ending a HOT update on PostgreSQL (models.Session.Meta, migration 0013):
    a column an ending writes in any index, or in a partial index's condition, would give
    each ended row a new entry in every index of the table."""
    table = Session._meta.db_table
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, table)
        assert all(not ENDING_WRITES & set(info["columns"] or ()) for info in indexes.values()), indexes
        if on_postgres:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
            definitions = [row[0] for row in cursor.fetchall()]
            written = re.compile(r"\b(" + "|".join(ENDING_WRITES) + r")\b")
            assert len(definitions) >= len(Session._meta.indexes)
            assert not [d for d in definitions if written.search(d)], definitions
            cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
            assert cursor.fetchone()[0] == ["fillfactor=70"]  # room on each page for the new row version


def test_on_postgresql_an_ending_is_a_hot_update(user, on_postgres):
    if not on_postgres:
        pytest.skip("HOT updates are PostgreSQL's")
    created = [make(user) for _ in range(5)]
    with connection.cursor() as cursor:
        counts = (
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), pg_stat_get_xact_tuples_hot_updated(%s::regclass)"
        )
        cursor.execute(counts, [Session._meta.db_table] * 2)
        updated, hot = cursor.fetchone()
        assert end_sessions(Session.objects.filter(user=user), reason="bulk") == len(created)
        cursor.execute(counts, [Session._meta.db_table] * 2)
        assert cursor.fetchone() == (updated + len(created), hot + len(created))  # each new version on its own page


def test_id_filters_name_exactly_their_ids_sent_as_one_string_or_as_a_list(user, on_postgres):
    """The batch travels as one string split on the server; ids it cannot carry that way (an
    empty id alone, an id holding the separator) go as a list, with the same answer."""
    if not on_postgres:
        pytest.skip("the ids travel as one array parameter on PostgreSQL only")
    from byo_sessions.services.ending import ID_SEPARATOR, IdIn, InBatch

    made = sorted(make(user).session_id for _ in range(4))

    for filter_of in (InBatch, IdIn):

        def chosen(ids: list[str], filter_of: type = filter_of) -> list[str]:
            return sorted(Session.objects.filter(filter_of("pk", ids)).values_list("pk", flat=True))

        assert chosen(made[1:3]) == made[1:3]
        assert chosen([made[0]]) == [made[0]]
        assert chosen([""]) == []
        assert chosen([made[3], "x" + ID_SEPARATOR + "y", ""]) == [made[3]]
        compiled = str(Session.objects.filter(filter_of("pk", made)).query)
        assert "string_to_array" in compiled and ID_SEPARATOR.join(made) in compiled
    # Ids of a column that is not text go as a typed list, even when given as strings.
    event = AuditEvent.objects.filter(session_id=made[0]).first()
    assert list(AuditEvent.objects.filter(IdIn("pk", [str(event.pk)])).values_list("pk", flat=True)) == [event.pk]
