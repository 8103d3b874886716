"""The audit trail (services/audit.py): a row now and a JSON log line once the transaction
commits, many events in one INSERT, log-only events for what has no session, and never
a raw token in either."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from byo_sessions import is_err, sessions
from byo_sessions.models import AuditEvent
from byo_sessions.services.audit import Event, EventType, log_only, record, record_many, record_throttled
from tests.constants import IP, UA
from tests.services.test_sessions import make

pytestmark = pytest.mark.django_db

AUDIT = "byo_sessions.audit"  # AUDIT_LOGGER's default


def _lines(caplog: pytest.LogCaptureFixture, logger: str = AUDIT) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == logger]


def _event(n: int = 0, **kwargs) -> Event:
    return Event(
        event_type=EventType.SESSION_INVALIDATED,
        session_id=f"ses_{n}",
        user_ref="42",
        ip_address=IP,
        user_agent=UA,
        reason="admin",
        actor="admin:root",
        details={"n": n},
        **kwargs,
    )


def test_tokens_never_reach_logs_or_audit(user, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        created = make(user)
        sessions.validate(session_token=created.session_token)
        sessions.validate(session_token="byo_s_" + "B" * 43)
        sessions.invalidate_by_token(session_token=created.session_token)
    assert "session_created" in caplog.text and "session_invalidated" in caplog.text  # the lines were written
    assert created.session_token not in caplog.text
    assert "B" * 43 not in caplog.text
    for event in AuditEvent.objects.all():
        assert created.session_token not in str(event.details) + event.reason
    assert created.session_token not in repr(created)


def test_audit_log_line_is_json(user, caplog, django_capture_on_commit_callbacks):
    import json

    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    with django_capture_on_commit_callbacks(execute=True):
        created = make(user)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "byo_sessions.audit"]
    assert lines[0]["event"] == "session_created" and lines[0]["session_id"] == created.session_id


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_leaves_no_log_line(user, caplog):
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.create(
        selector="org:*", max_concurrent_sessions_per_user=1, on_session_limit_exceeded="reject_new"
    )
    make(user, tags=["org:a"])
    other = sessions.create(user_id=user.pk, tags=["org:a"])  # refused; nothing it started may show
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    assert is_err(other)
    refused = sessions.create(user_id=user.pk, tags=["org:a"])
    assert is_err(refused)
    events = [r.getMessage() for r in caplog.records if r.name == "byo_sessions.audit"]
    assert len(events) == 1 and "session_limit_exceeded" in events[0]


def test_record_writes_the_row_at_once_and_the_line_only_on_commit(caplog, clock, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger=AUDIT)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record(_event(1))
        row = AuditEvent.objects.get()
        assert _lines(caplog) == []  # not committed yet: no line
    assert (
        row.event_type,
        row.session_id,
        row.user_ref,
        row.ip_address,
        row.user_agent,
        row.reason,
        row.actor,
        row.details,
        row.created_at,
    ) == ("session_invalidated", "ses_1", "42", IP, UA, "admin", "admin:root", {"n": 1}, clock.now())
    for callback in callbacks:
        callback()
    assert _lines(caplog) == [
        {
            "event": "session_invalidated",
            "at": clock.now().isoformat(),
            "session_id": "ses_1",
            "user": "42",
            "ip": IP,
            "ua": UA,
            "reason": "admin",
            "actor": "admin:root",
            "details": {"n": 1},
        }
    ]


def test_record_cuts_free_text_to_its_column():
    record(
        Event(
            event_type=EventType.SESSION_INVALIDATED,
            user_ref="u" * 300,
            user_agent="a" * 2000,
            reason="r" * 100,
            actor="x" * 300,
        )
    )
    row = AuditEvent.objects.get()
    assert (len(row.user_ref), len(row.user_agent), len(row.reason), len(row.actor)) == (255, 1024, 60, 200)


def test_record_many_is_one_insert_and_a_line_per_event_on_commit(caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger=AUDIT)
    with django_capture_on_commit_callbacks(execute=True):
        with CaptureQueriesContext(connection) as ctx:
            record_many(_event(n) for n in range(7))
    inserts = [q["sql"] for q in ctx.captured_queries if q["sql"].upper().startswith("INSERT")]
    assert len(inserts) == 1 and len(ctx.captured_queries) == 1
    assert sorted(AuditEvent.objects.values_list("session_id", flat=True)) == [f"ses_{n}" for n in range(7)]
    assert [line["session_id"] for line in _lines(caplog)] == [f"ses_{n}" for n in range(7)]


def test_record_many_of_nothing_costs_nothing(django_assert_num_queries, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, django_assert_num_queries(0):
        record_many([])
    assert callbacks == []


def test_log_only_writes_a_line_and_no_row(caplog, clock, django_assert_num_queries):
    caplog.set_level(logging.INFO, logger=AUDIT)
    with django_assert_num_queries(0):
        log_only(Event(event_type=EventType.VALIDATION_FAILED, ip_address=IP, reason="malformed_token"))
    assert not AuditEvent.objects.exists()
    (line,) = _lines(caplog)
    assert (line["event"], line["reason"], line["ip"], line["at"]) == (
        "validation_failed",
        "malformed_token",
        IP,
        clock.now().isoformat(),
    )


def test_lines_go_to_the_logger_named_by_audit_logger(settings, caplog, django_capture_on_commit_callbacks):
    settings.BYO_SESSIONS = {"AUDIT_LOGGER": "myproject.audit"}
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        record(_event(1))
    assert [line["session_id"] for line in _lines(caplog, "myproject.audit")] == ["ses_1"]
    assert _lines(caplog) == []


def test_a_garbage_token_is_logged_without_the_token_and_without_a_row(caplog):
    caplog.set_level(logging.INFO, logger=AUDIT)
    garbage = "not-a-token-" + "Z" * 30
    assert is_err(sessions.validate(session_token=garbage, ip_address=IP))
    assert not AuditEvent.objects.exists()
    (line,) = _lines(caplog)
    assert line["event"] == "validation_failed" and line["reason"] == "malformed_token"
    assert "Z" * 30 not in caplog.text


def test_record_throttled_writes_one_row_per_session_type_reason_and_window(
    caplog, clock, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger=AUDIT)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(50):
            record_throttled(_event(1))
        record_throttled(_event(2))  # another session
        record_throttled(Event(event_type=EventType.SESSION_INVALIDATED, session_id="ses_1", reason="other"))
        clock.advance(61)
        record_throttled(_event(1))
    assert list(AuditEvent.objects.order_by("id").values_list("session_id", "reason")) == [
        ("ses_1", "admin"),
        ("ses_2", "admin"),
        ("ses_1", "other"),
        ("ses_1", "admin"),
    ]
    assert len(_lines(caplog)) == 53


def test_record_throttled_without_a_session_is_bounded_per_user():
    for user_ref in ["7", "7", "7", "8"]:
        record_throttled(Event(event_type=EventType.SESSION_LIMIT_EXCEEDED, user_ref=user_ref, reason="reject_new"))
    assert sorted(AuditEvent.objects.values_list("user_ref", flat=True)) == ["7", "8"]


def test_record_throttled_checks_through_one_index(django_assert_num_queries):
    """The check names only (session_id, created_at), or (user_ref, created_at) without a
    session, so no stale statistics can send it down the event-type index through a burst
    (selectors.recent_refusal_exists); the type and reason are compared on the few rows."""
    record_throttled(_event(1))
    with django_assert_num_queries(1) as captured:
        record_throttled(_event(1))  # throttled: the check only
    where = captured.captured_queries[0]["sql"].partition(" WHERE ")[2]
    assert '"session_id"' in where and '"created_at"' in where
    assert '"event_type"' not in where and '"reason"' not in where and '"user_ref"' not in where
    record_throttled(Event(event_type=EventType.SESSION_LIMIT_EXCEEDED, user_ref="7", reason="reject_new"))
    with django_assert_num_queries(1) as captured:
        record_throttled(Event(event_type=EventType.SESSION_LIMIT_EXCEEDED, user_ref="7", reason="reject_new"))
    where = captured.captured_queries[0]["sql"].partition(" WHERE ")[2]
    assert '"user_ref"' in where and '"event_type"' not in where and '"session_id"' not in where
    assert AuditEvent.objects.count() == 2


def _guess(ip: str = IP, ua: str = UA, token: str = "byo_s_" + "G" * 43):
    result = sessions.validate(session_token=token, ip_address=ip, user_agent=ua)
    assert is_err(result) and result.error.type == "InvalidSessionToken"
    return result


@pytest.mark.parametrize(("token", "reason"), [("byo_s_" + "G" * 43, "unknown_token"), ("junk", "malformed_token")])
def test_garbage_token_lines_carry_the_client_ip_and_user_agent(caplog, token, reason):
    caplog.set_level(logging.INFO, logger=AUDIT)
    _guess(token=token)
    (line,) = _lines(caplog)
    assert (line["reason"], line["ip"], line["ua"]) == (reason, IP, UA)


def test_unknown_tokens_from_one_ip_are_one_row_per_window(settings, clock, caplog, django_capture_on_commit_callbacks):
    settings.BYO_SESSIONS = {"UNKNOWN_TOKEN_THRESHOLD": 5, "UNKNOWN_TOKEN_WINDOW_SECS": 60}
    caplog.set_level(logging.INFO, logger=AUDIT)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(50):
            _guess(token="byo_s_" + "G" * 43 if n % 2 else "junk")
        for _ in range(4):  # another IP, under the threshold
            _guess(ip="192.0.2.9")
    rows = AuditEvent.objects.filter(event_type="validation_failed", reason="repeated_unknown_tokens")
    row = rows.get()
    assert (row.ip_address, row.user_agent, row.details["count"], row.details["window_secs"]) == (IP, UA, 5, 60)
    assert row.session_id == "" and row.user_ref == ""
    assert len([line for line in _lines(caplog) if line["reason"] in ("unknown_token", "malformed_token")]) == 54
    clock.advance(60)
    for _ in range(5):
        _guess()
    assert rows.count() == 2


def test_a_guess_without_a_client_ip_is_not_counted(settings):
    settings.BYO_SESSIONS = {"UNKNOWN_TOKEN_THRESHOLD": 1}
    assert is_err(sessions.validate(session_token="byo_s_" + "G" * 43))
    assert not AuditEvent.objects.exists()


class UnusableCache(BaseCache):
    """A cache every call to which fails, as a stopped Redis does."""

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)

    def __getattribute__(self, name: str):
        if name in {"add", "get", "set", "incr", "delete", "get_many", "has_key", "touch"}:
            raise ConnectionError("cache down")
        return super().__getattribute__(name)


def test_the_steady_request_makes_no_cache_call_and_a_cache_outage_refuses_as_before(
    user, settings, caplog, django_assert_num_queries
):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.UnusableCache"}}
    settings.BYO_SESSIONS = {"UNKNOWN_TOKEN_THRESHOLD": 1}
    created = make(user)
    sessions.validate(session_token=created.session_token, ip_address=IP, user_agent=UA)  # reads the policy set
    with django_assert_num_queries(1):
        assert sessions.validate(session_token=created.session_token, ip_address=IP, user_agent=UA).data
    caplog.set_level(logging.INFO)
    _guess()
    assert "could not count a failed validation" in caplog.text
    assert not AuditEvent.objects.filter(reason="repeated_unknown_tokens").exists()
