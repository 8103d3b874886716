"""Reads (selectors.py): the hot lookup is one query with the user joined and the cold
columns deferred; the previous-token and retired-token lookups find the session a rotated
token belongs to."""

from __future__ import annotations

import pytest

from byo_sessions import sessions
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Session
from byo_sessions.selectors import (
    COLD_SESSION_COLUMNS,
    retired_token,
    session_by_previous_hash,
    session_by_token_hash,
)
from tests.constants import CHROME_MAC, IP

pytestmark = pytest.mark.django_db


def _create(user, **kwargs):
    return sessions.create(
        user_id=user.pk, ip_address=IP, user_agent=CHROME_MAC, tags=["org:acme"], metadata={"plan": "pro"}, **kwargs
    ).data


def test_one_query_with_the_user_joined(user, django_assert_num_queries):
    created = _create(user)
    with django_assert_num_queries(1):
        session = session_by_token_hash(hash_token(created.session_token))
        assert session.user.get_username() == "alice" and session.user.pk == user.pk  # no second query
        assert (session.id, session.tags, session.metadata, session.last_ip_address) == (
            created.session_id,
            ["org:acme"],
            {"plan": "pro"},
            IP,
        )
    assert session.user.check_password("pw-alice-123")  # a whole user row, not a stub


def test_values_come_back_as_the_orm_would_give_them(user):
    """Rows are turned into instances with the backend's converters: JSON, datetimes and
    booleans must match what the ORM reads."""
    created = _create(user)
    fast = session_by_token_hash(hash_token(created.session_token))
    orm = Session.objects.get(pk=created.session_id)
    hot = [f.attname for f in Session._meta.concrete_fields if f.attname not in COLD_SESSION_COLUMNS]
    assert {name: getattr(fast, name) for name in hot} == {name: getattr(orm, name) for name in hot}
    assert fast.user.is_active is True and fast.user.date_joined == user.date_joined


def test_cold_columns_are_deferred_and_reading_one_costs_a_query(user, django_assert_num_queries):
    created = _create(user)
    session = session_by_token_hash(hash_token(created.session_token))
    assert session.get_deferred_fields() == set(COLD_SESSION_COLUMNS)
    with django_assert_num_queries(1):
        assert session.user_agent == CHROME_MAC  # loaded on first access, with its true value
    with django_assert_num_queries(0):
        assert session.user_agent == CHROME_MAC


def test_unknown_hash_is_none_in_one_query(db, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert session_by_token_hash(hash_token("byo_s_" + "A" * 43)) is None


def test_a_session_without_a_django_user(db, django_assert_num_queries):
    created = sessions.create(external_user_id="ext-7").data
    with django_assert_num_queries(1):
        session = session_by_token_hash(hash_token(created.session_token))
        assert session.user is None and session.external_user_id == "ext-7"


def test_a_session_whose_user_was_deleted_is_gone(user):
    created = _create(user)
    user.delete()
    assert session_by_token_hash(hash_token(created.session_token)) is None


def test_rotated_tokens_are_found_by_their_own_lookups(user, clock, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 60, "ROTATION_GRACE_SECS": 30}
    tokens = [_create(user).session_token]
    for _ in range(2):
        clock.advance(61)
        tokens.append(
            sessions.validate_and_refresh(
                session_token=tokens[-1], ip_address=IP, user_agent=CHROME_MAC
            ).data.new_session_token
        )
    oldest, previous, current = (hash_token(t) for t in tokens)
    session_id = session_by_token_hash(current).id
    assert session_by_token_hash(previous) is None and session_by_token_hash(oldest) is None

    with django_assert_num_queries(1):
        by_previous = session_by_previous_hash(previous)
        assert by_previous.id == session_id and by_previous.user.pk == user.pk  # user joined
    assert session_by_previous_hash(current) is None and session_by_previous_hash(oldest) is None

    with django_assert_num_queries(1):
        retired = retired_token(oldest)
        assert retired.session.id == session_id and retired.session.user_id == user.pk  # session joined
    assert retired_token(previous) is None and retired_token(current) is None


# --- the hot statement, prepared once per PostgreSQL connection -----------------------------


def _hot_sql(captured) -> list[str]:
    return [q["sql"] for q in captured]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)  # the test closes the connection
def test_prepared_once_per_connection_then_executed(user, django_assert_num_queries):
    """The first lookup on a connection prepares and runs in one query; later ones EXECUTE.
    A new connection (a reconnect) prepares again, with the same results each time."""
    from django.db import connection

    created = _create(user)
    token_hash = hash_token(created.session_token)
    connection.close()  # a fresh connection: nothing prepared on it yet
    with django_assert_num_queries(1) as first:
        session = session_by_token_hash(token_hash)
    with django_assert_num_queries(1) as second:
        again = session_by_token_hash(token_hash)
    assert _hot_sql(first)[0].startswith("PREPARE byo_hot_") and "; EXECUTE byo_hot_" in _hot_sql(first)[0]
    assert _hot_sql(second)[0].startswith("EXECUTE byo_hot_")
    assert (
        (session.id, session.user.pk, session.tags)
        == (again.id, again.user.pk, again.tags)
        == (created.session_id, user.pk, ["org:acme"])
    )
    assert session_by_token_hash(hash_token("byo_s_" + "B" * 43)) is None  # prepared, no row
    connection.close()
    with django_assert_num_queries(1) as reconnected:
        assert session_by_token_hash(token_hash).id == created.session_id
    assert _hot_sql(reconnected)[0].startswith("PREPARE byo_hot_")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)  # the test closes the connection and rolls back
def test_prepared_statement_survives_a_rollback(user):
    """PREPARE is not undone by a rollback, so the statement is still there afterwards."""
    from django.db import connection, transaction

    created = _create(user)
    token_hash = hash_token(created.session_token)
    connection.close()
    try:
        with transaction.atomic():
            assert session_by_token_hash(token_hash) is not None  # prepared inside the transaction
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert session_by_token_hash(token_hash).id == created.session_id  # EXECUTE of that statement


@pytest.mark.postgres_only
@pytest.mark.parametrize("how", ["setting", "pgbouncer_flag", "server_side_binding"])
def test_plain_select_where_a_prepared_statement_may_vanish(user, settings, how, django_assert_num_queries):
    from django.db import connection

    created = _create(user)
    if how == "setting":
        settings.BYO_SESSIONS = {"PREPARED_HOT_QUERY": False}
    key, value = {
        "pgbouncer_flag": ("DISABLE_SERVER_SIDE_CURSORS", True),
        "server_side_binding": (
            "OPTIONS",
            {**connection.settings_dict.get("OPTIONS", {}), "server_side_binding": True},
        ),
    }.get(how, (None, None))
    saved = dict(connection.settings_dict)
    if key is not None:
        connection.settings_dict[key] = value
    try:
        with django_assert_num_queries(1) as captured:
            assert session_by_token_hash(hash_token(created.session_token)).id == created.session_id
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert _hot_sql(captured)[0].startswith("SELECT ")


def test_instances_built_through_init_when_someone_listens(user):
    """A ``post_init`` receiver on the user model (a field tracker) sees the instance built the
    ordinary way; without one the quicker build gives the same values."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_init

    created = _create(user)
    seen = []

    def tracker(sender, instance, **kwargs):
        seen.append(instance.__dict__.get("username"))

    post_init.connect(tracker, sender=get_user_model())
    try:
        tracked = session_by_token_hash(hash_token(created.session_token))
    finally:
        post_init.disconnect(tracker, sender=get_user_model())
    untracked = session_by_token_hash(hash_token(created.session_token))
    assert seen == ["alice"]
    assert tracked.user.__dict__.keys() - {"_state"} == untracked.user.__dict__.keys() - {"_state"}
    assert not untracked.user._state.adding and untracked.user._state.db == "default"
    assert untracked.get_deferred_fields() == set(COLD_SESSION_COLUMNS)


@pytest.mark.postgres_only
@pytest.mark.parametrize("prepared", [True, False])
def test_the_read_that_records_a_proof(user, settings, prepared, django_assert_num_queries):
    """``session_recording_proof``: one statement reads the session and records the proof's
    replay key, only for the key the session is bound to; a second recording of the same key
    reports False. Prepared or as a plain statement (PREPARED_HOT_QUERY False), alike."""
    from datetime import timedelta

    from django.utils import timezone

    from byo_sessions.models import UsedProof
    from byo_sessions.selectors import ProofToRecord, session_recording_proof

    settings.BYO_SESSIONS = {"PREPARED_HOT_QUERY": prepared}
    created = _create(user)
    Session.objects.filter(pk=created.session_id).update(device_thumbprint="T" * 43)
    token_hash = hash_token(created.session_token)
    later = timezone.now() + timedelta(minutes=2)
    with django_assert_num_queries(1) as captured:
        session, recorded = session_recording_proof(token_hash, ProofToRecord("T" * 43, "k" * 64, later))
    assert (session.id, session.user.pk, recorded) == (created.session_id, user.pk, True)
    assert ("PREPARE" in _hot_sql(captured)[0] or "EXECUTE" in _hot_sql(captured)[0]) is prepared
    assert session_recording_proof(token_hash, ProofToRecord("T" * 43, "k" * 64, later))[1] is False  # spent
    assert session_recording_proof(token_hash, ProofToRecord("U" * 43, "u" * 64, later))[1] is False  # other key
    assert session_recording_proof(hash_token("byo_s_" + "C" * 43), ProofToRecord("T" * 43, "c" * 64, later)) == (
        None,
        False,
    )
    assert list(UsedProof.objects.values_list("jti_hash", flat=True)) == ["k" * 64]
    assert UsedProof.objects.get().expires_at == later


# --- the row's timestamps and the literal token hash (PostgreSQL) ----------------------------


def _same_as_the_orm(fast: Session, orm: Session) -> None:
    """Every timestamp of the hot row is the ORM's, to the microsecond and in its time zone."""
    for name in ("created_at", "last_activity_at", "expires_at", "token_issued_at"):
        ours, theirs = getattr(fast, name), getattr(orm, name)
        assert (ours, ours.tzinfo, ours.utcoffset()) == (theirs, theirs.tzinfo, theirs.utcoffset()), name
    assert fast.ended_at is None and orm.ended_at is None
    assert (fast.user.last_login, fast.user.date_joined) == (orm.user.last_login, orm.user.date_joined)


@pytest.mark.postgres_only
def test_timestamps_read_as_integers_are_the_orms_datetimes(user):
    """Under ``USE_TZ`` with a UTC connection the timestamps travel as microseconds since the
    epoch (``_reads_micros``) and come back as the very datetimes the ORM reads, microseconds
    and all; an ended session's ``ended_at`` too."""
    from datetime import UTC, datetime

    from django.db import connection

    from byo_sessions.core import clock
    from byo_sessions.selectors import _plan

    clock.freeze(datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC))  # a second's last microsecond
    user.last_login = datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)  # before the epoch
    user.save(update_fields=["last_login"])
    created = _create(user)
    assert _plan(connection.alias).micros_columns  # this path is the one under test
    fast = session_by_token_hash(hash_token(created.session_token))
    _same_as_the_orm(fast, Session.objects.select_related("user").get(pk=created.session_id))
    assert fast.created_at == datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
    assert fast.user.last_login == datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)

    Session.objects.filter(pk=created.session_id).update(ended_at=datetime(2026, 3, 29, 1, 0, 0, 7, tzinfo=UTC))
    ended = session_by_token_hash(hash_token(created.session_token))
    assert ended.ended_at == Session.objects.get(pk=created.session_id).ended_at


@pytest.mark.postgres_only
def test_timestamps_in_another_connection_time_zone_are_read_as_they_are(user):
    """A database ``TIME_ZONE`` gives the ORM datetimes in that zone: the hot row then reads
    its timestamps as they are (another statement), with the same values and zone."""
    from django.db import connection, connections

    from byo_sessions.selectors import _plan

    created = _create(user)
    saved = connection.settings_dict.get("TIME_ZONE")

    def use(zone: str | None) -> None:  # as Django's own setting_changed receiver does
        wrapper = connections[connection.alias]
        wrapper.settings_dict["TIME_ZONE"] = zone
        for cached in ("timezone", "timezone_name"):
            wrapper.__dict__.pop(cached, None)
        wrapper.ensure_timezone()

    use("Asia/Kathmandu")  # +05:45: any offset mix-up shows
    try:
        assert not _plan(connection.alias).micros_columns
        fast = session_by_token_hash(hash_token(created.session_token))
        orm = Session.objects.select_related("user").get(pk=created.session_id)
        assert str(fast.created_at.tzinfo) == "Asia/Kathmandu"
        _same_as_the_orm(fast, orm)
    finally:
        use(saved)
    assert _plan(connection.alias).micros_columns


def test_only_plain_strings_are_written_as_literals():
    """A value that could end its quotes (or is not text) is sent as a parameter instead."""
    from datetime import UTC, datetime

    from byo_sessions.selectors import _plain_literals

    assert _plain_literals([hash_token("byo_s_" + "A" * 43), "T-_9" * 10]) == (
        f"'{hash_token('byo_s_' + 'A' * 43)}', '{'T-_9' * 10}'"
    )
    for unsafe in ["a'b", "a\\b", "", "a b", "é", "a\nb"]:
        assert _plain_literals([unsafe]) is None, unsafe
    assert _plain_literals(["abc", datetime.now(UTC)]) is None
    assert _plain_literals(["abc", 7]) is None


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)  # the test closes the connection
def test_the_steady_read_sends_the_hash_as_a_literal(user, django_assert_num_queries):
    from django.db import connection

    created = _create(user)
    token_hash = hash_token(created.session_token)
    connection.close()
    session_by_token_hash(token_hash)  # prepares
    with django_assert_num_queries(1) as captured:
        assert session_by_token_hash(token_hash).id == created.session_id
    assert _hot_sql(captured)[0].startswith("EXECUTE byo_hot_") and _hot_sql(captured)[0].endswith(f"('{token_hash}')")
