"""The session service (services/sessions.py, public as ``byo_sessions.sessions``): create,
validate, invalidate, list, update, and every error type. Ending sessions in bulk is in
test_ending.py, the audit trail in test_audit.py."""

from __future__ import annotations

import logging

import pytest

from byo_sessions import ErrorType, is_err, is_ok, sessions
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import AuditEvent, Session, SessionTag
from tests.constants import CHROME_MAC, IP

pytestmark = pytest.mark.django_db


def make(user, **kwargs):
    kwargs.setdefault("ip_address", IP)
    kwargs.setdefault("user_agent", CHROME_MAC)
    result = sessions.create(user_id=user.pk, **kwargs)
    assert is_ok(result), result
    return result.data


def test_create_returns_a_prefixed_256_bit_token_and_stores_only_its_hash(user):
    created = make(user, tags=["org:acme"], metadata={"role": "admin"})
    assert created.session_token.startswith("byo_s_")
    assert len(created.session_token) == len("byo_s_") + 43
    row = Session.objects.get(pk=created.session_id)
    assert row.token_hash == hash_token(created.session_token)
    assert created.session_token not in str(Session.objects.filter(pk=row.pk).values().first())
    assert row.tags == ["org:acme"] and row.metadata == {"role": "admin"}
    assert list(SessionTag.objects.filter(session=row).values_list("tag", flat=True)) == ["org:acme"]
    assert row.client["browser"] == "Chrome"


def test_two_sessions_get_different_tokens(user):
    assert make(user).session_token != make(user).session_token


def test_validate_returns_user_and_metadata(user):
    created = make(user, tags=["org:acme"], metadata={"role": "admin"})
    result = sessions.validate(session_token=created.session_token, ip_address=IP, user_agent=CHROME_MAC)
    assert is_ok(result)
    assert result.data.user_id == user.pk
    assert result.data.user == user
    assert result.data.session_id == created.session_id
    assert result.data.metadata == {"role": "admin"}
    assert result.data.tags == ("org:acme",)
    assert result.data.new_session_token is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "byo_s_",
        "x" * 10_000,
        "byo_s_" + "é" * 43,
        "wrong_" + "a" * 43,
        None,
        12345,
        "byo_s_" + "a" * 42,
        "byo_s_" + "a" * 43 + "\x00",
    ],
)
def test_garbage_tokens_are_invalid_session_token(token):
    result = sessions.validate(session_token=token)
    assert is_err(result)
    assert result.error.type == ErrorType.INVALID_SESSION_TOKEN
    assert result.error.details["reason"] == "malformed_token"


def test_unknown_well_formed_token(user):
    result = sessions.validate(session_token="byo_s_" + "A" * 43)
    assert is_err(result) and result.error.type == "InvalidSessionToken"
    assert result.error.details["reason"] == "unknown_token"


def test_expiry_by_absolute_lifetime(user, clock, settings):
    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 3600, "INACTIVITY_TIMEOUT_SECS": None}
    created = make(user)
    for _ in range(5):  # activity does not extend the absolute lifetime
        clock.advance(700)
        assert is_ok(sessions.validate(session_token=created.session_token))
    clock.advance(200)
    result = sessions.validate(session_token=created.session_token)
    assert is_err(result) and result.error.type == ErrorType.SESSION_EXPIRED
    assert result.error.details["reason"] == "expired_absolute"
    row = Session.objects.get(pk=created.session_id)
    assert row.end_reason == "expired_absolute"  # kept for inspection, marked once
    assert AuditEvent.objects.filter(session_id=row.id, event_type="session_expired").count() == 1
    again = sessions.validate(session_token=created.session_token)
    assert again.error.type == ErrorType.SESSION_EXPIRED


def test_expiry_by_inactivity(user, clock, settings):
    settings.BYO_SESSIONS = {"INACTIVITY_TIMEOUT_SECS": 600, "TOUCH_INTERVAL_SECS": 60}
    created = make(user)
    clock.advance(590)
    assert is_ok(sessions.validate(session_token=created.session_token))  # touches last activity
    clock.advance(590)
    assert is_ok(sessions.validate(session_token=created.session_token))
    clock.advance(601)
    result = sessions.validate(session_token=created.session_token)
    assert is_err(result) and result.error.type == ErrorType.SESSION_EXPIRED
    assert result.error.details["reason"] == "expired_inactivity"


def test_last_activity_written_at_most_once_per_touch_interval(user, clock, settings, django_assert_num_queries):
    settings.BYO_SESSIONS = {"TOUCH_INTERVAL_SECS": 60, "POLICY_REFRESH_SECS": 3600}
    created = make(user)
    kw = dict(session_token=created.session_token, ip_address=IP, user_agent=CHROME_MAC)
    sessions.validate(**kw)
    clock.advance(30)
    with django_assert_num_queries(1):
        assert is_ok(sessions.validate(**kw))
    clock.advance(31)
    with django_assert_num_queries(2):  # SELECT + one UPDATE of last_activity_at
        assert is_ok(sessions.validate(**kw))
    row = Session.objects.get(pk=created.session_id)
    assert row.last_activity_at == clock.now()


def test_invalidate_by_token(user):
    created = make(user)
    assert sessions.invalidate_by_token(session_token=created.session_token).data == 1
    result = sessions.validate(session_token=created.session_token)
    assert result.error.type == ErrorType.SESSION_INVALIDATED
    assert result.error.details["reason"] == "logout"
    assert sessions.invalidate_by_token(session_token=created.session_token).data == 0
    assert sessions.invalidate_by_token(session_token="garbage").data == 0


def test_invalidate_by_id_and_not_found(user, other_user):
    created = make(user)
    wrong_owner = sessions.invalidate_by_id(session_id=created.session_id, user_id=other_user.pk)
    assert is_err(wrong_owner) and wrong_owner.error.type == ErrorType.SESSION_NOT_FOUND
    assert sessions.invalidate_by_id(session_id=created.session_id, reason="admin", actor="admin:root").data == 1
    result = sessions.validate(session_token=created.session_token)
    assert result.error.details["reason"] == "admin"
    event = AuditEvent.objects.get(session_id=created.session_id, event_type="session_invalidated")
    assert (event.reason, event.actor) == ("admin", "admin:root")
    missing = sessions.invalidate_by_id(session_id="ses_nope")
    assert is_err(missing) and missing.error.type == ErrorType.SESSION_NOT_FOUND


def test_invalidate_all_for_user_with_and_without_tags(user, other_user):
    a, b, c = make(user, tags=["org:acme"]), make(user, tags=["org:other"]), make(user)
    theirs = make(other_user, tags=["org:acme"])
    assert sessions.invalidate_all_for_user(user_id=user.pk, session_tags=["org:acme"]).data == 1
    assert is_err(sessions.validate(session_token=a.session_token))
    assert is_ok(sessions.validate(session_token=b.session_token))
    assert sessions.invalidate_all_for_user(user_id=user.pk).data == 2
    assert is_err(sessions.validate(session_token=c.session_token))
    assert is_ok(sessions.validate(session_token=theirs.session_token))


def test_invalidate_all_except_one(user):
    keep, drop1, drop2 = make(user), make(user), make(user)
    result = sessions.invalidate_all_for_user_except_one(user_id=user.pk, session_token_to_keep=keep.session_token)
    assert result.data == 2
    assert is_ok(sessions.validate(session_token=keep.session_token))
    assert is_err(sessions.validate(session_token=drop1.session_token))
    assert is_err(sessions.validate(session_token=drop2.session_token))


def test_except_one_keeps_the_session_whose_token_was_just_rotated(user, clock, settings):
    settings.BYO_SESSIONS = {"ROTATION_INTERVAL_SECS": 60, "ROTATION_GRACE_SECS": 30}
    keep, drop = make(user), make(user)
    clock.advance(61)
    rotated = sessions.validate_and_refresh(session_token=keep.session_token, ip_address=IP, user_agent=CHROME_MAC).data
    assert rotated.new_session_token  # the request's own token is now the previous one
    result = sessions.invalidate_all_for_user_except_one(user_id=user.pk, session_token_to_keep=keep.session_token)
    assert result.data == 1
    assert is_ok(sessions.validate(session_token=rotated.new_session_token))
    assert is_err(sessions.validate(session_token=drop.session_token))


def test_except_one_by_session_id(user):
    keep, drop = make(user), make(user)
    assert sessions.invalidate_all_for_user_except_one(user_id=user.pk, session_id_to_keep=keep.session_id).data == 1
    assert is_ok(sessions.validate(session_token=keep.session_token))
    assert is_err(sessions.validate(session_token=drop.session_token))


@pytest.mark.parametrize("bad", ["org:acme", ["bad tag"], ["org:"], [5]])
def test_bulk_calls_refuse_a_malformed_tag_selection_instead_of_selecting_all(user, bad):
    a = make(user, tags=["org:acme"])
    for call in (
        lambda: sessions.invalidate_all_for_user(user_id=user.pk, session_tags=bad),
        lambda: sessions.invalidate_all_for_user_except_one(
            user_id=user.pk, session_tags=bad, session_id_to_keep="ses_x"
        ),
        lambda: sessions.fetch_all_for_user(user_id=user.pk, session_tags=bad),
    ):
        result = call()
        assert is_err(result) and result.error.type == ErrorType.INVALID_TAG_FORMAT, result
    assert is_ok(sessions.validate(session_token=a.session_token))


def test_fetch_all_for_user_lists_live_sessions_only(user, other_user):
    a, b = make(user, tags=["org:acme"]), make(user)
    make(other_user)
    sessions.invalidate_by_token(session_token=b.session_token)
    listed = sessions.fetch_all_for_user(user_id=user.pk).data
    assert [s.session_id for s in listed] == [a.session_id]
    info = listed[0]
    assert info.device.browser == "Chrome" and info.device.device_type == "Desktop"
    assert info.ip_address == IP and info.tags == ("org:acme",)
    assert sessions.fetch_all_for_user(user_id=user.pk, session_tags=["org:none"]).data == []


def test_fetch_by_id(user):
    created = make(user)
    assert sessions.fetch_by_id(session_id=created.session_id).data.session_id == created.session_id
    assert sessions.fetch_by_id(session_id="ses_missing").error.type == ErrorType.SESSION_NOT_FOUND


def test_update_tags_and_metadata(user):
    created = make(user, tags=["org:acme"], metadata={"a": 1, "b": 2})
    assert is_ok(
        sessions.update(
            session_id=created.session_id,
            tags_to_add=["role:root"],
            tags_to_remove=["org:acme"],
            patch_metadata={"b": 3, "c": 4},
        )
    )
    data = sessions.validate(session_token=created.session_token).data
    assert data.tags == ("role:root",)
    assert data.metadata == {"a": 1, "b": 3, "c": 4}
    assert set(SessionTag.objects.filter(session_id=created.session_id).values_list("tag", flat=True)) == {"role:root"}
    assert is_ok(sessions.update(session_id=created.session_id, new_metadata={"z": 0}))
    assert sessions.validate(session_token=created.session_token).data.metadata == {"z": 0}


def test_update_errors(user, settings):
    settings.BYO_SESSIONS = {"CREATE_ONLY_TAG_TYPES": ["org"]}
    created = make(user, tags=["org:acme"])
    both = sessions.update(session_id=created.session_id, new_metadata={}, patch_metadata={})
    assert both.error.type == ErrorType.CONFLICTING_METADATA_OPTIONS
    bad_tag = sessions.update(session_id=created.session_id, tags_to_add=["no colon"])
    assert bad_tag.error.type == ErrorType.INVALID_TAG_FORMAT and bad_tag.error.details["tag"] == "no colon"
    locked = sessions.update(session_id=created.session_id, tags_to_remove=["org:acme"])
    assert locked.error.type == ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS
    assert locked.error.details["tag_names"] == ["org:acme"]
    missing = sessions.update(session_id="ses_missing", tags_to_add=["x:y"])
    assert missing.error.type == ErrorType.SESSION_NOT_FOUND
    assert sessions.validate(session_token=created.session_token).data.tags == ("org:acme",)


@pytest.mark.parametrize(
    "kwargs,error_type",
    [
        ({"tags": ["bad tag"]}, ErrorType.INVALID_TAG_FORMAT),
        ({"tags": "org:acme"}, ErrorType.INVALID_TAG_FORMAT),
        ({"metadata": ["not", "a", "dict"]}, ErrorType.INVALID_METADATA),
        ({"metadata": {"x": object()}}, ErrorType.INVALID_METADATA),
        ({"metadata": {"x": "y" * 20_000}}, ErrorType.INVALID_METADATA),
        ({"ip_address": "999.1.1.1"}, ErrorType.INVALID_IP_ADDRESS),
    ],
)
def test_create_input_errors_write_nothing(user, kwargs, error_type):
    result = sessions.create(user_id=user.pk, **kwargs)
    assert is_err(result) and result.error.type == error_type
    assert Session.objects.count() == 0


def test_create_for_unknown_or_inactive_user(user):
    assert sessions.create(user_id=999_999).error.type == ErrorType.UNKNOWN_USER
    assert sessions.create(user_id="not-an-int").error.type == ErrorType.UNKNOWN_USER
    assert sessions.create().error.type == ErrorType.UNKNOWN_USER
    user.is_active = False
    user.save()
    assert sessions.create(user_id=user.pk).error.type == ErrorType.USER_INACTIVE


def test_deactivated_user_loses_sessions(user):
    created = make(user)
    user.is_active = False
    user.save()
    result = sessions.validate(session_token=created.session_token)
    assert is_err(result) and result.error.type == ErrorType.USER_INACTIVE
    user.is_active = True
    user.save()
    assert is_err(sessions.validate(session_token=created.session_token))  # stays ended


def test_deleted_user_has_no_session(user):
    created = make(user)
    user.delete()
    assert sessions.validate(session_token=created.session_token).error.type == ErrorType.INVALID_SESSION_TOKEN


def test_external_user_ids(db):
    result = sessions.create(external_user_id="user_42", ip_address="198.51.100.1")
    assert is_ok(result)
    data = sessions.validate(session_token=result.data.session_token).data
    assert data.user_id == "user_42" and data.user is None
    assert len(sessions.fetch_all_for_user(external_user_id="user_42").data) == 1
    assert sessions.invalidate_all_for_user(external_user_id="user_42").data == 1
    assert sessions.create(external_user_id="").error.type == ErrorType.UNKNOWN_USER
    assert sessions.create(external_user_id="x" * 300).error.type == ErrorType.UNKNOWN_USER


def test_required_tags(user):
    created = make(user, tags=["org:acme"])
    assert is_ok(sessions.validate(session_token=created.session_token, required_tags=["org:acme"]))
    result = sessions.validate(session_token=created.session_token, required_tags=["role:root"])
    assert result.error.type == ErrorType.MISSING_REQUIRED_TAGS


def test_async_twins(user):
    from asgiref.sync import async_to_sync

    async def flow():
        created = await sessions.acreate(user_id=user.pk)
        assert is_ok(created)
        validated = await sessions.avalidate(session_token=created.data.session_token)
        assert is_ok(validated) and validated.data.user_id == user.pk
        return (await sessions.ainvalidate_by_token(session_token=created.data.session_token)).data

    assert async_to_sync(flow)() == 1


def test_bulk_calls_need_an_owner(user):
    make(user)
    assert sessions.invalidate_all_for_user().error.type == ErrorType.UNKNOWN_USER
    assert (
        sessions.invalidate_all_for_user_except_one(session_token_to_keep="byo_s_" + "A" * 43).error.type
        == ErrorType.UNKNOWN_USER
    )
    assert sessions.fetch_all_for_user().error.type == ErrorType.UNKNOWN_USER
    assert sessions.fetch_all_for_user(user_id="abc").error.type == ErrorType.UNKNOWN_USER
    assert Session.objects.filter(ended_at__isnull=True).count() == 1


def test_update_keeps_the_tag_limit(user):
    created = make(user, tags=[f"t:{i}" for i in range(32)])
    result = sessions.update(session_id=created.session_id, tags_to_add=["t:extra"])
    assert result.error.type == ErrorType.INVALID_TAG_FORMAT
    assert len(sessions.validate(session_token=created.session_token).data.tags) == 32


def test_session_list_names_the_browser(user):
    make(user)
    assert sessions.fetch_all_for_user(user_id=user.pk).data[0].device.display_name == "Chrome 131 on macOS"


def test_update_many_is_all_or_nothing_and_capped(user, settings):
    settings.BYO_SESSIONS = {"CREATE_ONLY_TAG_TYPES": ["org"]}
    a, b = make(user, tags=["org:acme"]), make(user)
    mine = Session.objects.filter(user=user)
    assert (
        sessions.update_many(queryset=mine, max_count=1, tags_to_add=["role:x"]).error.type
        == ErrorType.UPDATING_TOO_MANY_SESSIONS
    )
    refused = sessions.update_many(queryset=mine, max_count=10, tags_to_add=["org:other"], patch_metadata={"k": 1})
    assert refused.error.type == ErrorType.CANNOT_MODIFY_CREATE_ONLY_TAGS
    assert all(s.metadata == {} for s in Session.objects.all())  # nothing half-written
    assert sessions.update_many(queryset=mine, max_count=10, tags_to_add=["role:x"]).data == 2
    assert SessionTag.objects.filter(tag="role:x").count() == 2
    assert sessions.validate(session_token=b.session_token).data.tags == ("role:x",)
    assert sessions.validate(session_token=a.session_token).data.tags == ("org:acme", "role:x")


def test_an_ended_sessions_token_is_audited_once_a_minute_and_logged_every_time(
    user, clock, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="byo_sessions.audit")
    created = make(user)
    sessions.invalidate_by_token(session_token=created.session_token)
    failed = AuditEvent.objects.filter(session_id=created.session_id, event_type="validation_failed")
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            result = sessions.validate(session_token=created.session_token, ip_address="198.51.100.1")
        assert result.error.type == ErrorType.SESSION_INVALIDATED and result.error.details["reason"] == "logout"
    row = failed.get()
    assert (row.reason, row.details["error"], row.ip_address) == ("logout", "SessionInvalidated", "198.51.100.1")
    assert caplog.text.count('"event": "validation_failed"') == 3
    clock.advance(61)
    sessions.validate(session_token=created.session_token)
    assert failed.count() == 2


def test_missing_required_tags_is_audited(user):
    created = make(user, tags=["org:acme"])
    result = sessions.validate(session_token=created.session_token, required_tags=["role:admin", "org:acme"])
    assert result.error.type == ErrorType.MISSING_REQUIRED_TAGS and result.error.details["missing_tags"] == [
        "role:admin"
    ]
    row = AuditEvent.objects.get(session_id=created.session_id, event_type="validation_failed")
    assert row.reason == "missing_required_tags" and row.details["missing_tags"] == ["role:admin"]


# --- text the database cannot store (NUL, lone surrogates): typed errors, never a driver error ---


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(external_user_id="a\x00b"), ErrorType.UNKNOWN_USER),
        (dict(external_user_id="\ud800"), ErrorType.UNKNOWN_USER),
        (dict(external_user_id="u", metadata={"a": "x\x00y"}), ErrorType.INVALID_METADATA),
        (dict(external_user_id="u", metadata={"a\x00": 1}), ErrorType.INVALID_METADATA),
        (dict(external_user_id="u", metadata={"a": ["ok", {"b": "\udfff"}]}), ErrorType.INVALID_METADATA),
    ],
)
def test_unstorable_identifiers_and_metadata_are_typed_errors(kwargs, error):
    result = sessions.create(**kwargs)
    assert is_err(result) and result.error.type == error, result
    assert not Session.objects.exists()


def test_deeply_nested_metadata_is_a_typed_error():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    result = sessions.create(external_user_id="u", metadata={"a": nested})
    assert result.error.type == ErrorType.INVALID_METADATA


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_unstorable_lookups_answer_not_found_without_a_query(bad, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert sessions.fetch_by_id(session_id=bad).error.type == ErrorType.SESSION_NOT_FOUND
        assert sessions.invalidate_by_id(session_id=bad).error.type == ErrorType.SESSION_NOT_FOUND
        assert sessions.update(session_id=bad, patch_metadata={"a": 1}).error.type == ErrorType.SESSION_NOT_FOUND
        assert sessions.fetch_all_for_user(external_user_id=bad).error.type == ErrorType.UNKNOWN_USER
        assert sessions.invalidate_all_for_user(external_user_id=bad).error.type == ErrorType.UNKNOWN_USER
    register = sessions.device.register(signed_device_challenge="x", remember_device=True, session_id=bad)
    assert register.error.type == ErrorType.SESSION_NOT_FOUND


def test_free_text_is_cleaned_not_refused():
    created = sessions.create(external_user_id="u", user_agent="Mozilla\x00/5.0 \ud800x").data
    row = Session.objects.get(pk=created.session_id)
    assert row.user_agent == "Mozilla/5.0 \ufffdx"
    assert sessions.invalidate_by_id(session_id=created.session_id, reason="why\x00", actor="me\udc00").data == 1
    row.refresh_from_db()
    assert (row.end_reason, row.ended_by) == ("why", "me\ufffd")


@pytest.mark.parametrize("required", [["bad tag"], ["org:\x00"], "org:acme"])
def test_malformed_required_tags_are_a_typed_error(user, required):
    created = make(user, tags=["org:acme"])
    result = sessions.validate(session_token=created.session_token, required_tags=required)
    assert result.error.type == ErrorType.INVALID_TAG_FORMAT
    assert not AuditEvent.objects.filter(event_type="validation_failed").exists()


@pytest.mark.parametrize(
    "keep",
    [
        dict(),
        dict(session_id_to_keep=12345),
        dict(session_id_to_keep=["ses_x"]),
        dict(session_id_to_keep=""),
        dict(session_id_to_keep="a\x00"),
        dict(session_token_to_keep=""),
        dict(session_token_to_keep="garbage"),
        dict(session_token_to_keep="a\x00b"),
        dict(session_token_to_keep=12345),
    ],
)
def test_except_one_without_a_usable_session_to_keep_is_refused_not_all(user, keep):
    created = make(user)
    result = sessions.invalidate_all_for_user_except_one(user_id=user.pk, **keep)
    assert result.error.type == ErrorType.INVALID_PARAMETERS
    assert is_ok(sessions.validate(session_token=created.session_token))


def test_a_tag_both_removed_and_added_ends_up_present_in_the_list_and_the_index(user):
    """Found by the session server's property test: the JSON list and the SessionTag rows disagreed."""
    created = make(user, tags=["org:acme", "role:admin"])
    assert is_ok(
        sessions.update(session_id=created.session_id, tags_to_add=["role:admin"], tags_to_remove=["role:admin"])
    )
    row = Session.objects.get(pk=created.session_id)
    assert row.tags == ["org:acme", "role:admin"]
    assert sorted(SessionTag.objects.filter(session=row).values_list("tag", flat=True)) == ["org:acme", "role:admin"]
