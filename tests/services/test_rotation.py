"""Token rotation with theft detection (services/rotation.py, docs/rotation.md)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.test import Client

from byo_sessions import ErrorType, is_err, is_ok, sessions, signals
from byo_sessions.models import AuditEvent, RetiredToken, Session
from tests.concurrency import run_in_parallel
from tests.constants import CHROME_WINDOWS, FIREFOX_LINUX

INTERVAL = 900
GRACE = 30
COOKIE = "rotation_token"  # SESSION_COOKIE_NAME in these tests (rotation_settings)


@pytest.fixture(autouse=True)
def rotation_settings(settings):
    settings.SESSION_COOKIE_NAME = COOKIE
    settings.BYO_SESSIONS = {
        "ROTATION_INTERVAL_SECS": INTERVAL,
        "ROTATION_GRACE_SECS": GRACE,
        "INACTIVITY_TIMEOUT_SECS": None,
    }


def refresh(token, **kwargs):
    kwargs.setdefault("ip_address", "198.51.100.10")
    kwargs.setdefault("user_agent", CHROME_WINDOWS)
    return sessions.validate_and_refresh(session_token=token, **kwargs)


def new_session(user):
    return sessions.create(user_id=user.pk, ip_address="198.51.100.10", user_agent=CHROME_WINDOWS).data


@pytest.mark.django_db
def test_no_rotation_before_the_interval(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL - 1)
    result = refresh(created.session_token)
    assert is_ok(result) and result.data.new_session_token is None


@pytest.mark.django_db
def test_rotation_keeps_id_creation_time_and_absolute_expiry(user, clock):
    created = new_session(user)
    row_before = Session.objects.get(pk=created.session_id)
    clock.advance(INTERVAL)
    result = refresh(created.session_token)
    new_token = result.data.new_session_token
    assert new_token and new_token != created.session_token and new_token.startswith("byo_s_")
    row = Session.objects.get(pk=created.session_id)
    assert (row.id, row.created_at, row.expires_at) == (row_before.id, row_before.created_at, row_before.expires_at)
    assert row.generation == 1
    assert is_ok(refresh(new_token)) and refresh(new_token).data.new_session_token is None
    assert AuditEvent.objects.filter(session_id=row.id, event_type="session_rotated").count() == 1


@pytest.mark.django_db
def test_validate_never_rotates(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL * 2)
    assert sessions.validate(session_token=created.session_token).data.new_session_token is None
    assert Session.objects.get(pk=created.session_id).generation == 0


@pytest.mark.django_db
def test_retry_with_previous_token_inside_window_recovers_the_same_successor(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL)
    first = refresh(created.session_token).data.new_session_token  # imagine this response was lost
    clock.advance(GRACE - 1)
    retry = refresh(created.session_token)
    assert is_ok(retry) and retry.data.new_session_token == first
    assert Session.objects.get(pk=created.session_id).generation == 1
    assert is_ok(refresh(first))
    assert not AuditEvent.objects.filter(event_type="token_reuse_detected").exists()


@pytest.mark.django_db
def test_previous_token_after_window_is_theft(user, clock, django_capture_on_commit_callbacks):
    received = []
    signals.token_reuse_detected.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        created = new_session(user)
        clock.advance(INTERVAL)
        successor = refresh(created.session_token).data.new_session_token
        clock.advance(GRACE)
        with django_capture_on_commit_callbacks(execute=True):
            stolen = refresh(created.session_token, ip_address="203.0.113.99", user_agent=FIREFOX_LINUX)
        assert is_err(stolen) and stolen.error.type == ErrorType.TOKEN_REUSE_DETECTED
        honest = refresh(successor)
        assert is_err(honest) and honest.error.type == ErrorType.SESSION_INVALIDATED
        assert honest.error.details["reason"] == "token_reuse_detected"
        event = AuditEvent.objects.get(event_type="token_reuse_detected")
        assert event.details["presented_from"] == {"ip_address": "203.0.113.99", "user_agent": FIREFOX_LINUX}
        assert event.details["session_last_seen"] == {"ip_address": "198.51.100.10", "user_agent": CHROME_WINDOWS}
        assert [r["session_id"] for r in received] == [created.session_id]
    finally:
        signals.token_reuse_detected.disconnect(dispatch_uid="t1")


@pytest.mark.django_db
def test_token_two_generations_old_inside_window_is_theft(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL)
    gen1 = refresh(created.session_token).data.new_session_token
    clock.advance(INTERVAL)
    gen2 = refresh(gen1).data.new_session_token
    assert gen2 and RetiredToken.objects.count() == 1
    clock.advance(1)  # gen1 is the previous token and inside its window; gen0 is two generations old
    result = refresh(created.session_token)
    assert is_err(result) and result.error.type == ErrorType.TOKEN_REUSE_DETECTED
    assert result.error.details["reason"] == "retired_token"
    assert refresh(gen2).error.type == ErrorType.SESSION_INVALIDATED


@pytest.mark.django_db
def test_token_two_generations_old_is_theft_even_inside_its_own_grace_window(user, clock, settings):
    """Rotating faster than the grace window: gen0 was retired only 10 s ago (< GRACE), yet
    it is two generations old, so it is theft; gen1 (the previous token) still works."""
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "ROTATION_INTERVAL_SECS": 10, "ROTATION_GRACE_SECS": 30}
    created = new_session(user)
    clock.advance(10)
    gen1 = refresh(created.session_token).data.new_session_token
    clock.advance(10)
    gen2 = refresh(gen1).data.new_session_token
    assert gen1 and gen2
    clock.advance(1)
    retry = refresh(gen1)  # previous token, inside its window: the already-rotated session
    assert is_ok(retry) and retry.data.new_session_token == gen2
    result = refresh(created.session_token)
    assert is_err(result) and result.error.type == ErrorType.TOKEN_REUSE_DETECTED
    assert result.error.details["reason"] == "retired_token"


@pytest.mark.django_db
def test_grace_zero_makes_the_previous_token_theft_at_once(user, clock, settings):
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "ROTATION_GRACE_SECS": 0}
    created = new_session(user)
    clock.advance(INTERVAL)
    assert refresh(created.session_token).data.new_session_token
    assert refresh(created.session_token).error.type == ErrorType.TOKEN_REUSE_DETECTED


@pytest.mark.django_db
def test_database_error_during_rotation_leaves_the_old_token_working(user, clock, monkeypatch):
    created = new_session(user)
    clock.advance(INTERVAL)

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(RetiredToken.objects, "bulk_create", broken)
    result = refresh(created.session_token)
    assert is_ok(result) and result.data.new_session_token is None
    row = Session.objects.get(pk=created.session_id)
    assert row.generation == 0 and row.previous_token_hash is None  # the UPDATE was rolled back
    monkeypatch.undo()
    assert refresh(created.session_token).data.new_session_token  # a later request rotates


@pytest.mark.django_db
def test_middleware_rewrites_cookie_and_bearer_header(user, clock):
    token = new_session(user).session_token
    client = Client()
    client.cookies[COOKIE] = token
    clock.advance(INTERVAL)
    response = client.get("/protected/")
    assert response.status_code == 200
    rotated = response.cookies[COOKIE].value
    assert rotated and rotated != token
    assert client.get("/protected/").status_code == 200  # the client now sends the new cookie

    bearer_token = new_session(user).session_token
    clock.advance(INTERVAL)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {bearer_token}")
    response = api.get("/protected/")
    assert response.status_code == 200 and response["BYO-Session-Token"].startswith("byo_s_")
    assert COOKIE not in response.cookies


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_at_the_rotation_boundary_share_one_successor(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL)
    results = run_in_parallel(24, lambda: refresh(created.session_token))
    assert all(is_ok(r) for r in results), results
    successors = {r.data.new_session_token for r in results}
    assert len(successors) == 1 and None not in successors
    row = Session.objects.get(pk=created.session_id)
    assert row.generation == 1 and row.ended_at is None
    assert not AuditEvent.objects.filter(event_type="token_reuse_detected").exists()
    assert AuditEvent.objects.filter(event_type="session_rotated").count() == 1
    assert is_ok(refresh(successors.pop()))


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_http_requests_through_the_middleware_all_get_the_same_new_cookie(user, clock):
    token = new_session(user).session_token
    clock.advance(INTERVAL)

    def request() -> tuple[int, str | None]:
        client = Client()
        client.cookies[COOKIE] = token
        response = client.get("/protected/", HTTP_USER_AGENT=CHROME_WINDOWS, REMOTE_ADDR="198.51.100.10")
        cookie = response.cookies.get(COOKIE)
        return response.status_code, cookie.value if cookie is not None else None

    results = run_in_parallel(20, request)
    assert all(not isinstance(r, Exception) and r[0] == 200 for r in results), results
    cookies = {r[1] for r in results}
    assert len(cookies) == 1 and None not in cookies and token not in cookies
    assert AuditEvent.objects.filter(event_type="session_rotated").count() == 1
    assert not AuditEvent.objects.filter(event_type="token_reuse_detected").exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_then_theft_still_detected(user, clock):
    created = new_session(user)
    clock.advance(INTERVAL)
    results = run_in_parallel(20, lambda: refresh(created.session_token))
    successor = results[0].data.new_session_token
    clock.advance(INTERVAL)
    gen2 = refresh(successor).data.new_session_token
    assert gen2
    assert refresh(created.session_token).error.type == ErrorType.TOKEN_REUSE_DETECTED


@pytest.mark.django_db
def test_secret_key_rotation_inside_the_window_is_not_theft(user, clock, settings):
    created = new_session(user)
    clock.advance(INTERVAL)
    successor = refresh(created.session_token).data.new_session_token
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    retry = refresh(created.session_token)
    assert is_ok(retry) and retry.data.new_session_token == successor
    settings.SECRET_KEY_FALLBACKS = []
    assert refresh(created.session_token).error.type == ErrorType.TOKEN_REUSE_DETECTED


@pytest.mark.django_db
def test_replaying_a_stolen_token_after_the_theft_is_one_row_per_minute_and_a_line_each_time(
    user, clock, caplog, django_capture_on_commit_callbacks
):
    created = new_session(user)
    clock.advance(INTERVAL)
    refresh(created.session_token)
    clock.advance(GRACE)
    assert refresh(created.session_token).error.type == ErrorType.TOKEN_REUSE_DETECTED  # ends the session
    caplog.set_level("INFO", logger="byo_sessions.audit")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(50):
            again = refresh(created.session_token, ip_address="203.0.113.99", user_agent=FIREFOX_LINUX)
            assert again.error.type == ErrorType.TOKEN_REUSE_DETECTED
    replays = AuditEvent.objects.filter(event_type="validation_failed", reason="token_reuse_detected")
    assert replays.count() == 1
    assert replays.get().details["presented_from"] == {"ip_address": "203.0.113.99", "user_agent": FIREFOX_LINUX}
    lines = [r.getMessage() for r in caplog.records if r.name == "byo_sessions.audit"]
    assert len(lines) == 50 and all('"ip": "203.0.113.99"' in line for line in lines)
    clock.advance(61)
    refresh(created.session_token)
    assert replays.count() == 2
