"""System checks name the wrong BYO_SESSIONS value and what to write instead."""
from __future__ import annotations

import pytest

from byo_sessions.checks import check_settings


def ids(settings, value):
    settings.BYO_SESSIONS = value
    return sorted({e.id for e in check_settings()})


@pytest.mark.parametrize("value,expected", [
    ({}, []),
    ({"NO_SUCH_KEY": 1}, ["byo_sessions.E002"]),
    ({"ABSOLUTE_LIFETIME_SECS": 0}, ["byo_sessions.E003"]),
    ({"TOUCH_INTERVAL_SECS": "60"}, ["byo_sessions.E003"]),
    ({"INACTIVITY_TIMEOUT_SECS": -1}, ["byo_sessions.E004"]),
    ({"ROTATION_GRACE_SECS": 301}, ["byo_sessions.E005"]),
    ({"COOKIE_SAMESITE": "lax"}, ["byo_sessions.E006"]),
    ({"COOKIE_SECURE": True, "COOKIE_DOMAIN": "example.com"}, ["byo_sessions.E007"]),
    ({"TOKEN_PREFIX": "bad prefix!"}, ["byo_sessions.E008"]),
    ({"PROXY_COUNT": -1}, ["byo_sessions.E009"]),
    ({"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}, ["byo_sessions.E010"]),
    ({"DEFAULT_POLICY": {"on_ip_address_change": "explode"}}, ["byo_sessions.E010"]),
])
def test_settings_checks(settings, value, expected):
    assert ids(settings, value) == expected


def test_insecure_cookie_outside_debug_warns(settings):
    settings.DEBUG = False
    assert ids(settings, {"COOKIE_SECURE": False}) == ["byo_sessions.W001"]


def test_policy_default_error_names_the_key(settings):
    settings.BYO_SESSIONS = {"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}
    (error,) = check_settings()
    assert "ip_allowlist" in error.msg and "10.0.0.0/24" in error.msg


@pytest.mark.parametrize("value,expected", [
    ({"TAG_PRIORITY": "org"}, ["byo_sessions.E011"]),
    ({"TAG_PRIORITY": ["Org Type"]}, ["byo_sessions.E011"]),
    ({"CREATE_ONLY_TAG_TYPES": ["*"]}, []),
    ({"TRUSTED_PROXIES": ["10.0.0.0/8", "not-a-network"]}, ["byo_sessions.E012"]),
    ({"TRUSTED_PROXIES": "10.0.0.0/8"}, ["byo_sessions.E012"]),
    ({"ABSOLUTE_LIFETIME_SECS": 12 * 3600}, []),  # shorter than the default idle timeout: fine
    ({"DEFAULT_POLICY": {"absolute_lifetime_secs": None}}, []),  # None means "not set here"
])
def test_list_settings_and_lifetimes(settings, value, expected):
    assert ids(settings, value) == expected


@pytest.mark.django_db
def test_a_short_lifetime_setting_works_at_request_time(settings, user):
    from byo_sessions import is_ok, sessions

    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 12 * 3600, "DEFAULT_POLICY": {"absolute_lifetime_secs": None}}
    created = sessions.create(user_id=user.pk)
    assert is_ok(created) and is_ok(sessions.validate(session_token=created.data.session_token))


def test_policy_errors_are_reported_beside_a_warning(settings):
    settings.DEBUG = False
    assert ids(settings, {"COOKIE_SECURE": False, "DEFAULT_POLICY": {"ip_allowlist": ["x"]}}) == [
        "byo_sessions.E010", "byo_sessions.W001"]


@pytest.mark.parametrize("value", [
    {"DEFAULT_POLICY": {"max_concurrent_sessions_per_user_per_tag": 3}},
    {"TAG_PRIORITY": ["org", "org"]},
])
def test_whole_policy_set_is_validated(settings, value):
    assert ids(settings, value) == ["byo_sessions.E010"]


@pytest.mark.django_db
def test_stored_settings_of_the_wrong_shape_fall_back_to_settings(user, caplog):
    from byo_sessions import is_ok, sessions
    from byo_sessions.models import PolicySetting

    PolicySetting.objects.create(key="tag_priority", value="org")  # written around the admin form
    created = sessions.create(user_id=user.pk, tags=["org:a"])
    assert is_ok(created)
    assert "stored policy set is invalid" in caplog.text
