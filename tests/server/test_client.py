"""The real ``propelauth-byo`` client against a live server: flows and every error type
those commands can answer. Any answer outside a command's union would raise ValueError
in the client and fail the test: passing is the compatibility proof."""

from __future__ import annotations

import pytest
from propelauth_byo import create_client
from propelauth_byo.generated.device_registration import DeviceRegistration
from propelauth_byo.generated.device_verification import DeviceVerification
from propelauth_byo.generated.sessions_filter import SessionsFilter

from byo_sessions.models import AuditEvent, Session, SessionTag
from byo_sessions.server import bulk
from byo_sessions.services import sessions as svc_sessions
from tests.server.conftest import (
    APP_URL,
    IP,
    LOGIN_URL,
    OTHER_KEY,
    UA,
    configure,
    run,
    signed,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.server.urls")]


def create(byo, user_id="u1", **kwargs):
    kwargs.setdefault("ip_address", IP)
    kwargs.setdefault("user_agent", UA)
    result = run(byo.session.create(user_id=user_id, **kwargs))
    assert result.__class__.__name__ == "Ok", result
    return result.data


def error_of(result):
    assert result.__class__.__name__ == "Err", result
    return result.error


def test_session_lifecycle(byo, clock, settings):
    configure(settings, ROTATION_INTERVAL_SECS=60, ROTATION_GRACE_SECS=30)
    assert run(byo.ping()).data.timestamp == int(clock.now().timestamp())
    created = create(byo, tags=["org:acme"], metadata={"role": "admin"})
    assert created.expires_at == int(clock.now().timestamp()) + 14 * 24 * 3600
    assert created.new_device_detected is None

    valid = run(byo.session.validate(session_token=created.session_token, ip_address=IP, user_agent=UA)).data
    assert (valid.session_id, valid.user_id, valid.tags, valid.metadata) == (
        created.session_id,
        "u1",
        ["org:acme"],
        {"role": "admin"},
    )
    assert valid.has_device_registered is False and valid.created_at == int(clock.now().timestamp())

    not_due = run(
        byo.session.validate_and_refresh(session_token=created.session_token, ip_address=IP, user_agent=UA)
    ).data
    assert not_due.new_session_token is None
    clock.advance(61)
    rotated = run(
        byo.session.validate_and_refresh(session_token=created.session_token, ip_address=IP, user_agent=UA)
    ).data
    token = rotated.new_session_token
    assert token and token != created.session_token and rotated.session_id == created.session_id
    # Inside the grace window the old token leads to the same successor.
    again = run(
        byo.session.validate_and_refresh(session_token=created.session_token, ip_address=IP, user_agent=UA)
    ).data
    assert again.new_session_token == token

    assert (
        run(
            byo.session.update(
                session_id=created.session_id,
                tags_to_add=["role:admin"],
                tags_to_remove=["org:acme"],
                patch_metadata={"plan": "pro"},
            )
        ).data
        is not None
    )
    info = run(byo.session.fetch_by_id(session_id=created.session_id)).data
    assert info.session_tags == ["role:admin"] and info.metadata == {"role": "admin", "plan": "pro"}
    assert (info.device.device_type, info.device.browser, info.device.os) == ("Desktop", "Chrome", "Linux")
    assert info.ip_address == IP and info.last_activity_at == int(clock.now().timestamp())

    other = create(byo)
    create(byo, user_id="u2")
    mine = run(byo.session.fetch_all_for_user(user_id="u1")).data.sessions
    assert {s.session_id for s in mine} == {created.session_id, other.session_id}
    assert mine[0].device["deviceType"] == "Desktop"  # fetch_all_for_user leaves device as a dict

    assert run(byo.session.invalidate_by_id(session_id=other.session_id, user_id="u1")).data is not None
    assert error_of(run(byo.session.validate(session_token=other.session_token))).type == "InvalidSessionToken"
    assert run(byo.session.invalidate_by_token(session_token=token)).data is not None
    gone = error_of(run(byo.session.validate(session_token=token)))
    assert gone.type == "InvalidSessionToken" and gone.details.startswith("SessionInvalidated (logout)")


def test_invalidate_all_and_except_one(byo):
    keep, drop, tagged = create(byo), create(byo), create(byo, tags=["org:acme"])
    foreign = create(byo, user_id="u2")
    result = run(
        byo.session.invalidate_all_for_user_except_one(
            user_id="u1", session_token_to_keep=keep.session_token, session_tags=["org:acme"]
        )
    )
    assert result.data.sessions_invalidated == 1
    assert Session.objects.get(pk=tagged.session_id).ended_at is not None
    result = run(byo.session.invalidate_all_for_user_except_one(user_id="u1", session_token_to_keep=keep.session_token))
    assert result.data.sessions_invalidated == 1
    assert Session.objects.get(pk=drop.session_id).ended_at is not None
    assert run(byo.session.invalidate_all_for_user(user_id="u1")).data.sessions_invalidated == 1
    assert run(byo.session.invalidate_all_for_user(user_id="u1")).data.sessions_invalidated == 0
    assert Session.objects.get(pk=foreign.session_id).ended_at is None
    # An unknown token is not an error.
    assert run(byo.session.invalidate_by_token(session_token="byo_s_unknown")).data is not None


def test_fetch_all_pages(byo, clock):
    ids = []
    for n in range(bulk.PAGE_SIZE + 5):
        ids.append(create(byo, user_id=f"u{n % 2}", tags=["org:a"] if n % 3 == 0 else None).session_id)
        clock.advance(1)
    first = run(byo.session.fetch_all()).data
    assert (first.page, first.page_size, first.total_count, first.has_more_results) == (0, 100, 105, True)
    assert [i.session_id for i in first.items] == ids[::-1][:100]
    second = run(byo.session.fetch_all(page=1)).data
    assert len(second.items) == 5 and second.has_more_results is False
    assert run(byo.session.fetch_all(page=9)).data.items == []
    tagged = run(byo.session.fetch_all(user_id="u0", session_tags=["org:a"])).data
    assert tagged.total_count == len([n for n in range(105) if n % 2 == 0 and n % 3 == 0])
    assert all(i.session_tags == ["org:a"] for i in tagged.items)
    Session.objects.filter(pk__in=ids[:5]).update(ended_at=clock.now())
    assert run(byo.session.fetch_all()).data.total_count == 100


def test_update_many(byo):
    a, b = create(byo, tags=["org:a"], metadata={"k": 1}), create(byo, tags=["org:a", "team:x"])
    other_org, other_user = create(byo, tags=["org:b"]), create(byo, user_id="u2", tags=["org:a"])
    result = run(
        byo.session.update_many(
            filter=SessionsFilter(user_id="u1", session_tags=["org:a"]),
            tags_to_add=["role:r"],
            tags_to_remove=["team:x"],
            patch_metadata={"p": True},
        )
    )
    assert result.data.updated_count == 2
    rows = {s.id: s for s in Session.objects.all()}
    assert rows[a.session_id].tags == ["org:a", "role:r"] and rows[a.session_id].metadata == {"k": 1, "p": True}
    assert rows[b.session_id].tags == ["org:a", "role:r"] and rows[b.session_id].metadata == {"p": True}
    assert rows[other_org.session_id].tags == ["org:b"] and rows[other_user.session_id].tags == ["org:a"]
    assert set(SessionTag.objects.filter(session_id=b.session_id).values_list("tag", flat=True)) == {"org:a", "role:r"}
    assert AuditEvent.objects.filter(event_type="session_updated").count() == 2
    replaced = run(byo.session.update_many(filter=SessionsFilter(session_tags=["role:r"]), new_metadata={"n": 1}))
    assert replaced.data.updated_count == 2
    assert Session.objects.get(pk=a.session_id).metadata == {"n": 1}
    # The tags drive policies: validation sees them at once.
    valid = run(byo.session.validate(session_token=a.session_token, required_tags=["role:r"])).data
    assert valid.tags == ["org:a", "role:r"]


def test_update_many_is_set_based(byo, django_assert_max_num_queries):
    for _ in range(30):
        create(byo, tags=["org:a"])
    with django_assert_max_num_queries(12):  # not one query per session
        assert (
            svc_sessions.update_many(
                queryset=bulk.live_sessions("u1", ["org:a"]),
                max_count=1000,
                tags_to_add=["role:r", "x:y"],
                tags_to_remove=["org:a"],
                patch_metadata={"p": 1},
            ).data
            == 30
        )
    assert SessionTag.objects.filter(tag="role:r").count() == 30 and not SessionTag.objects.filter(tag="org:a")


def test_create_errors(byo, settings):
    assert error_of(run(byo.session.create(user_id="u1", tags=["Not A Tag"]))).details.invalid_tag_format == "Not A Tag"
    bad_ip = error_of(run(byo.session.create(user_id="u1", ip_address="not-an-ip")))
    assert bad_ip.type == "IpAddressError" and bad_ip.details.startswith("InvalidIpAddress")
    bad_metadata = error_of(run(byo.session.create(user_id="u1", metadata=[1, 2])))
    assert bad_metadata.type == "UnexpectedError" and bad_metadata.details.startswith("InvalidMetadata")
    assert error_of(run(byo.session.create(user_id=""))).details.startswith("UnknownUser")
    garbage = DeviceRegistration(signed_device_challenge="garbage", request_url=LOGIN_URL, request_method="POST")
    assert (
        error_of(run(byo.session.create(user_id="u1", device_registration=garbage))).type == "InvalidDeviceRegistration"
    )

    configure(settings, DEFAULT_POLICY={"ip_allowlist": ["10.0.0.0/8"]})
    refused = error_of(run(byo.session.create(user_id="u1", ip_address=IP)))
    assert refused.type == "IpAddressError" and "ip_not_in_allowlist" in refused.details

    configure(settings, DEFAULT_POLICY={}, MAX_SESSIONS_PER_USER=1, ON_SESSION_LIMIT_EXCEEDED="reject_new")
    create(byo)
    limit = error_of(run(byo.session.create(user_id="u1")))
    assert limit.type == "SessionLimitExceeded"
    assert (limit.details.current_count, limit.details.max_allowed) == (1, 1)
    assert Session.objects.count() == 1


def test_validate_errors(byo, clock, settings):
    configure(settings, ROTATION_INTERVAL_SECS=60, ROTATION_GRACE_SECS=30, ABSOLUTE_LIFETIME_SECS=3600)

    def refused(token, **kwargs):
        kwargs.setdefault("ip_address", IP)
        kwargs.setdefault("user_agent", UA)
        for method in (byo.session.validate, byo.session.validate_and_refresh):
            error = error_of(run(method(session_token=token, **kwargs)))
        return error  # both commands answer alike; the last one is returned

    assert refused(None).details.startswith("InvalidSessionToken (malformed_token)")
    assert refused("byo_s_" + "A" * 43).details.startswith("InvalidSessionToken (unknown_token)")
    wrong_type = refused(12345)
    assert wrong_type.type == "UnexpectedError" and "sessionToken must be a string" in wrong_type.details

    tagged = create(byo, tags=["org:a"])
    assert refused(tagged.session_token, required_tags=["org:b"]).details.startswith("MissingRequiredTags")
    old = create(byo).session_token
    clock.advance(61)
    new = run(byo.session.validate_and_refresh(session_token=old, ip_address=IP, user_agent=UA)).data.new_session_token
    clock.advance(31)
    reuse = error_of(run(byo.session.validate(session_token=old, ip_address=IP, user_agent=UA)))
    assert reuse.type == "InvalidSessionToken" and reuse.details.startswith("TokenReuseDetected")
    assert refused(new).details.startswith("SessionInvalidated (token_reuse_detected)")

    short = create(byo).session_token
    clock.advance(3601)
    assert refused(short).details.startswith("SessionExpired (expired_absolute)")
    assert refused(tagged.session_token, ip_address="nope").type == "IpAddressError"

    configure(settings, DEFAULT_POLICY={"disallow_ip_address_changes": True})
    pinned = create(byo).session_token
    moved = refused(pinned, ip_address="198.51.100.1")
    assert moved.type == "IpAddressError" and moved.details.startswith("IpAddressChanged (ip_changes_disallowed)")

    configure(settings, DEFAULT_POLICY={"on_user_agent_change": "invalidate"})
    browser = create(byo).session_token
    other_ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    assert error_of(
        run(byo.session.validate(session_token=browser, ip_address=IP, user_agent=other_ua))
    ).details.startswith("UserAgentChanged")


def test_device_flow_and_device_errors(byo, clock, device, settings):
    registration = DeviceRegistration(
        signed_device_challenge=signed(byo, device, clock, "POST", LOGIN_URL),
        remember_device=True,
        request_url=LOGIN_URL,
        request_method="POST",
    )
    created = create(byo, device_registration=registration)
    assert created.new_device_detected is True

    def verification(signer=device, **kwargs):
        return DeviceVerification(
            signed_device_challenge=signed(byo, signer, clock, **kwargs), request_url=APP_URL, request_method="GET"
        )

    ok = run(
        byo.session.validate(
            session_token=created.session_token, ip_address=IP, user_agent=UA, device_verification=verification()
        )
    )
    assert ok.data.has_device_registered is True

    def refused(proof, **kwargs):
        return error_of(
            run(
                byo.session.validate_and_refresh(
                    session_token=created.session_token,
                    ip_address=IP,
                    user_agent=UA,
                    device_verification=proof,
                    **kwargs,
                )
            )
        )

    from tests.dpop_signer import TestDevice

    assert refused(verification(TestDevice())).type == "DeviceVerificationFailed"
    stale = refused(verification(iat=int(clock.now().timestamp()) - 3600))
    assert stale.type == "NewDeviceChallengeRequired" and stale.details.device_challenge
    assert stale.details.expires_at == int(clock.now().timestamp()) + 300

    configure(settings, DEFAULT_POLICY={"device_verification_required": True})
    bare = create(byo).session_token
    required = error_of(run(byo.session.validate(session_token=bare, ip_address=IP, user_agent=UA)))
    assert required.type == "DeviceVerificationRequired"
    skipped = run(
        byo.session.validate(session_token=bare, ip_address=IP, user_agent=UA, ignore_device_for_verification=True)
    )
    assert skipped.data.has_device_registered is False


def test_register_device(byo, clock, device):
    first = create(byo)
    second = create(byo)

    def register(proof, **kwargs):
        kwargs.setdefault("session_token", first.session_token)
        kwargs.setdefault("ip_address", IP)
        return run(
            byo.session.device.register(
                signed_device_challenge=proof,
                remember_device=True,
                request_url=APP_URL,
                request_method="POST",
                user_agent=UA,
                **kwargs,
            )
        )

    assert register(signed(byo, device, clock, "POST")).data.new_device_detected is True
    assert (
        register(
            signed(byo, device, clock, "POST"), session_token=None, session_id=second.session_id
        ).data.new_device_detected
        is False
    )  # same user, same key
    assert error_of(register(signed(byo, device, clock, "POST"))).type == "DeviceAlreadyRegistered"
    third = create(byo)
    assert error_of(register(signed(byo, device, clock, "POST"), session_token="byo_s_nope")).type == "SessionNotFound"
    assert error_of(register("garbage", session_token=third.session_token)).type == "InvalidDeviceRegistration"
    stale = error_of(
        register(
            signed(byo, device, clock, "POST", iat=int(clock.now().timestamp()) - 3600),
            session_token=third.session_token,
        )
    )
    assert stale.type == "NewDeviceChallengeRequired" and stale.details.device_challenge
    bad_ip = error_of(register("x", session_token=third.session_token, ip_address="nope"))
    assert bad_ip.type == "UnexpectedError" and bad_ip.details.startswith("InvalidIpAddress")
    assert error_of(run(byo.session.device.create_challenge(ip_address="nope"))).type == "UnexpectedError"
    assert Session.objects.get(pk=third.session_id).device_id is None


def test_update_and_lookup_errors(byo, settings):
    created = create(byo, tags=["org:a"])
    sid = created.session_id
    assert error_of(run(byo.session.update(session_id="ses_nope", tags_to_add=["x:y"]))).type == "SessionNotFound"
    assert (
        error_of(run(byo.session.update(session_id=sid, new_metadata={}, patch_metadata={}))).type
        == "ConflictingMetadataOptions"
    )
    assert error_of(run(byo.session.update(session_id=sid, tags_to_add=["BAD"]))).details.invalid_tag_format == "BAD"
    bad_md = error_of(run(byo.session.update(session_id=sid, new_metadata="text")))
    assert bad_md.type == "UnexpectedError" and bad_md.details.startswith("InvalidMetadata")
    assert error_of(run(byo.session.fetch_by_id(session_id="ses_nope"))).type == "SessionNotFound"
    assert error_of(run(byo.session.invalidate_by_id(session_id="ses_nope"))).type == "SessionNotFound"
    assert error_of(run(byo.session.invalidate_by_id(session_id=sid, user_id="u2"))).type == "SessionNotFound"
    assert error_of(run(byo.session.invalidate_by_id(session_id=sid, user_id=""))).type == "SessionNotFound"

    configure(settings, CREATE_ONLY_TAG_TYPES=["org"])
    locked = error_of(run(byo.session.update(session_id=sid, tags_to_remove=["org:a"])))
    assert locked.type == "CannotModifyOnCreateOnlyTags" and locked.details.tag_names == ["org:a"]
    assert run(byo.session.update(session_id=sid, tags_to_add=["org:a"])).data is not None  # a no-op is fine
    many = error_of(run(byo.session.update_many(filter=SessionsFilter(user_id="u1"), tags_to_add=["org:z"])))
    assert many.type == "CannotModifyOnCreateOnlyTags" and many.details.tag_names == ["org:z"]
    assert (
        error_of(run(byo.session.update_many(filter=SessionsFilter(), new_metadata={}, patch_metadata={}))).type
        == "ConflictingMetadataOptions"
    )
    assert (
        error_of(run(byo.session.update_many(filter=SessionsFilter(), tags_to_add=["BAD"]))).type == "InvalidTagFormat"
    )
    too_big = error_of(run(byo.session.update_many(filter=SessionsFilter(), patch_metadata={"x": "y" * 20000})))
    assert too_big.type == "UnexpectedError" and too_big.details.startswith("InvalidMetadata")
    assert Session.objects.get(pk=sid).tags == ["org:a"]


def test_update_many_refuses_too_many(byo, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_SESSIONS_PER_UPDATE", 2)
    for _ in range(3):
        create(byo)
    assert (
        error_of(run(byo.session.update_many(filter=SessionsFilter(), tags_to_add=["x:y"]))).type
        == "UpdatingTooManySessionsAtOnce"
    )
    assert not SessionTag.objects.filter(tag="x:y").exists()
    assert (
        run(byo.session.update_many(filter=SessionsFilter(user_id="nobody"), tags_to_add=["x:y"])).data.updated_count
        == 0
    )


def test_max_tags_after_update_many(byo):
    create(byo, tags=[f"t:{n}" for n in range(32)])
    error = error_of(run(byo.session.update_many(filter=SessionsFilter(), tags_to_add=["t:x"])))
    assert error.type == "InvalidTagFormat" and error.details.invalid_tag_format == "t:x"


def test_commands_we_do_not_offer_answer_unexpected_error(byo):
    for call in (byo.passkeys.fetch_all_passkeys_for_user(user_id="u1"), byo.api_keys.validate_api_key(key="k")):
        error = error_of(run(call))
        assert error.type == "UnexpectedError" and "not available in byo-sessions" in error.details


def test_wrong_integration_key(server_url):
    wrong = create_client(url=server_url, integration_key=OTHER_KEY)
    ping = error_of(run(wrong.ping()))  # Ping's error is untyped: the protocol's key error comes through
    assert ping.type == "IntegrationKeyNotFound"
    assert error_of(run(create_client(url=server_url, integration_key="sk_other").ping())).type == "InvalidPrefix"
    # Commands with a typed union raise on the protocol's key errors, as with any BYO server.
    with pytest.raises(ValueError, match="IntegrationKeyNotFound"):
        run(wrong.session.validate(session_token="byo_s_x"))
    assert Session.objects.count() == 0


def test_live_server_shares_the_frozen_clock(byo, clock):
    created = create(byo)
    clock.advance(5)
    assert (
        run(byo.session.fetch_by_id(session_id=created.session_id)).data.created_at == int(clock.now().timestamp()) - 5
    )
